/**
 * Imported before pg (pg.ts). When pg loads it asks whether it runs in a Cloudflare Worker. On Node
 * 20, which has no `navigator`, it asks by building a `Response`, and that loads Node's bundled
 * fetch (undici): about 13 ms of every shard thread's start, for a module nothing here uses.
 * Node 21 and later define `navigator` (userAgent `Node.js/N`), and pg then asks it instead. This
 * defines the same on Node 20, and only where it is missing.
 */
if (!('navigator' in globalThis))
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node.split('.')[0]}` },
    configurable: true,
    writable: true,
  });
