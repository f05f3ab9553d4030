/**
 * The placement rules against a simulated cluster: nodes apply them in turn, each from the counts
 * it would read (its load, the least loaded other node, the fair share), as ticks do. Whatever the
 * start, every shard gets an owner, no node ends above its fair share, and then nothing moves.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fairShare, givesOneBack, mayClaim } from '../../src/cluster/placement.js';

/** Rounds of ticks until nothing moves; returns the loads and the moves made. */
function simulate(start: number[], shards: number, runningMax: number) {
  const loads = [...start];
  let unowned = shards - loads.reduce((a, b) => a + b, 0);
  let moves = 0;
  for (let round = 0; round < 1000; round++) {
    let moved = false;
    for (let n = 0; n < loads.length; n++) {
      const others = loads.filter((_, i) => i !== n);
      const view = () => ({
        load: loads[n]!,
        running: loads[n]!,
        othersMinOwned: others.length === 0 ? undefined : Math.min(...others),
      });
      const fair = fairShare(shards, loads.length);
      if (givesOneBack(view(), fair)) {
        loads[n]!--;
        unowned++;
        moved = true;
        moves++;
      }
      while (unowned > 0 && mayClaim(view(), fair, runningMax)) {
        loads[n]!++;
        unowned--;
        moved = true;
        moves++;
      }
    }
    if (!moved) return { loads, unowned, moves, rounds: round };
  }
  throw new Error(`no rest after 1000 rounds: ${loads}`);
}

describe('placement', () => {
  it('fair share: shards over nodes rounded up, at least 1', () => {
    expect(fairShare(8, 3)).toBe(3);
    expect(fairShare(8, 4)).toBe(2);
    expect(fairShare(0, 3)).toBe(1);
    expect(fairShare(5, 0)).toBe(5);
  });

  it('a node alone claims everything, and gives nothing back', () => {
    expect(simulate([0], 8, 64).loads).toEqual([8]);
    expect(givesOneBack({ load: 8, running: 8, othersMinOwned: undefined }, 1)).toBe(false);
  });

  it('a node that joins takes shards from a busy one until loads differ by at most one', () => {
    const { loads, unowned } = simulate([8, 0], 8, 64);
    expect(unowned).toBe(0);
    expect(loads.sort()).toEqual([4, 4]);
  });

  it('never gives back its last running shard, nor below two above the least loaded', () => {
    expect(givesOneBack({ load: 3, running: 1, othersMinOwned: 0 }, 1)).toBe(false);
    expect(givesOneBack({ load: 3, running: 3, othersMinOwned: 2 }, 2)).toBe(false);
    expect(givesOneBack({ load: 4, running: 4, othersMinOwned: 2 }, 3)).toBe(true);
  });

  it('from any start: every shard owned, no node above its fair share, then at rest', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
        (nodes, shards, seeds) => {
          // A start that owns at most every shard, spread however.
          const start = Array.from({ length: nodes }, () => 0);
          let left = shards;
          seeds.slice(0, nodes).forEach((seed, n) => {
            const take = Math.min(left, seed % (shards + 1));
            start[n] = take;
            left -= take;
          });
          const { loads, unowned } = simulate(start, shards, 64);
          expect(unowned).toBe(0);
          expect(loads.reduce((a, b) => a + b, 0)).toBe(shards);
          // Not even: a node below its share pulls nothing from one at it (a move costs a recovery).
          expect(Math.max(...loads)).toBeLessThanOrEqual(fairShare(shards, nodes));
          // At rest: another round moves nothing.
          expect(simulate(loads, shards, 64).moves).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('stops claiming at the running cap', () => {
    expect(mayClaim({ load: 2, running: 2, othersMinOwned: undefined }, 1, 2)).toBe(false);
    expect(simulate([0], 10, 3).loads).toEqual([3]);
  });
});
