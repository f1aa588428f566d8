// The inspector page (served at /inspector), bundled by gateway/inspector/build.mjs.
import { startInspector } from './inspector.ts'

void startInspector()
