/**
 * `node --import ./test/helpers/record-imports.mjs …`: appends every module URL the process (and
 * each worker thread) loads to the file named by RECORD_IMPORTS_FILE, through a resolve hook.
 */
import { register } from 'node:module';

if (process.env.RECORD_IMPORTS_FILE) register('./record-imports-hooks.mjs', import.meta.url);
