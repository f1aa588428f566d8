import { execFileSync } from 'node:child_process'
import { createHash, X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A throwaway self-signed certificate for localhost and 127.0.0.1, made with openssl. */
export function selfSignedCertificate() {
  const dir = mkdtempSync(join(tmpdir(), 'streamgate-tls-'))
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' })
  const pem = readFileSync(cert)
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' })
  return {
    cert: pem,
    key: readFileSync(key),
    /** For Chromium's --ignore-certificate-errors-spki-list: trusts exactly this certificate. */
    spkiHash: createHash('sha256').update(spki).digest('base64'),
  }
}
