/** node-postgres, loaded after pg-runtime.ts: every module of the product takes pg from here. */
import './pg-runtime.js';
import pg from 'pg';

export default pg;
