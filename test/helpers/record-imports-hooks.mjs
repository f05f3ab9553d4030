/** Module hooks for record-imports.mjs: each resolved URL, one per line. */
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(process.env.RECORD_IMPORTS_FILE, `${resolved.url}\n`);
  return resolved;
}
