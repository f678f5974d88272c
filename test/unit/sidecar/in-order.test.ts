// The ADS client's arrival-order queue (sidecar/xds/in-order.ts): a response held for a library to
// load may, once it runs, hold the line again (for the prepare hook); what arrived meanwhile runs
// after both, in order, and nothing is lost.
import { describe, expect, it } from 'vitest';
import { InOrder } from '../../../sidecar/xds/in-order.js';

const turn = () => new Promise<void>((r) => setImmediate(r));

describe('InOrder', () => {
  it('runs at once when nothing holds the line', () => {
    const o = new InOrder();
    const ran: string[] = [];
    o.run(() => ran.push('a'));
    expect(ran).toEqual(['a']);
  });

  it('a settled hold may hold again: what waited runs after the second, in arrival order', async () => {
    const o = new InOrder();
    const ran: string[] = [];
    let first!: () => void;
    let second!: () => void;
    o.hold(new Promise<void>((r) => (first = r)), () => {
      ran.push('first');
      o.hold(new Promise<void>((r) => (second = r)), () => ran.push('second'));
    });
    o.run(() => ran.push('a'));
    o.run(() => ran.push('b'));
    first();
    await turn();
    expect(ran).toEqual(['first']);
    o.run(() => ran.push('c'));
    second();
    await turn();
    expect(ran).toEqual(['first', 'second', 'a', 'b', 'c']);
    o.run(() => ran.push('d'));
    expect(ran.at(-1)).toBe('d');
  });

  it('a waiting item that holds the line stops the rest until it settles; a rejection reaches settled', async () => {
    const o = new InOrder();
    const ran: string[] = [];
    let first!: () => void;
    let fail!: (e: Error) => void;
    o.hold(new Promise<void>((r) => (first = r)), () => ran.push('first'));
    o.run(() => o.hold(new Promise<void>((_r, j) => (fail = j)), (e) => ran.push(`held: ${(e as Error).message}`)));
    o.run(() => ran.push('after'));
    first();
    await turn();
    expect(ran).toEqual(['first']);
    fail(new Error('no such module'));
    await turn();
    expect(ran).toEqual(['first', 'held: no such module', 'after']);
  });
});
