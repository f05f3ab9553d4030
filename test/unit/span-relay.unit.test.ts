/**
 * The worker-thread span backend (src/ops/span-relay.ts) keeps each task's active span on its own
 * async chain: a node's shard thread runs several shards at once, interleaved at every await.
 */
import { describe, expect, it } from 'vitest';
import { relayBackend } from '../../src/ops/span-relay.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('span relay', () => {
  it('two tasks interleaved on one thread each see their own span, and a child joins its own trace', async () => {
    const relay = relayBackend();
    try {
      const task = async (name: string) => {
        const span = relay.startSpan(name, {});
        return relay.withActive(span, async () => {
          const seen: string[] = [];
          for (let i = 0; i < 5; i++) {
            await tick();
            seen.push(relay.activeIds()!.span_id);
          }
          const child = relay.startSpan(`${name}.child`, {});
          const childTrace = child.carrier().traceparent.split('-')[1];
          child.end();
          span.end();
          return { own: span.carrier().traceparent.split('-'), seen, childTrace };
        });
      };
      const [a, b] = await Promise.all([task('a'), task('b')]);
      for (const t of [a, b]) {
        expect(new Set(t.seen)).toEqual(new Set([t.own[2]]));
        expect(t.childTrace).toBe(t.own[1]);
      }
      expect(a.own[1]).not.toBe(b.own[1]);
      // Outside both tasks no span is active: nothing an ended span could leave behind.
      expect(relay.activeIds()).toBeUndefined();
    } finally {
      await relay.shutdown();
    }
  });
});
