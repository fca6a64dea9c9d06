// Builds app.js into a wasi:http/proxy component with componentize-js.
// Usage: node build.mjs WIT_DIR OUT.wasm
// componentize-js 0.23's engine exports wasi:http/incoming-handler@0.2.10,
// so WIT_DIR must describe that version (scripts/build-examples.sh derives
// it from the repo's wit/).
import { componentize } from '@bytecodealliance/componentize-js';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [witPath, out] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const source = await readFile(join(here, 'app.js'), 'utf8');
const { component } = await componentize(source, {
  sourceName: 'app.js',
  witPath,
  worldName: 'hello',
});
await writeFile(out, component);
console.log(`built ${out} (${component.length} bytes)`);
