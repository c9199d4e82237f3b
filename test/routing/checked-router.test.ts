import { checkedRouter } from '../../src/routing/checked-router';
import type { RouteInput, RouteResult, Router } from '../../src/routing/router';
import type { RequestContext } from '../../src/context/request-context';

/** A custom router's mistakes fail the request with an error naming the router and the field. */
function routerReturning(result: () => unknown): Router {
  return { name: 'mine', order: 150, configure: () => undefined, route: () => result() as RouteResult };
}

const run = (result: () => unknown) => () => checkedRouter(routerReturning(result)).route({} as RequestContext, {} as RouteInput);

test.each([
  ['a throw', () => { throw new Error('boom'); }, 'router mine: route() threw: boom'],
  ['a number', () => 7, 'router mine: route() returned 7'],
  ['an unknown kind', () => ({ kind: 'maybe', note: '' }), 'router mine: route() returned kind "maybe"'],
  ['a rule that is not a string', () => ({ kind: 'final', decision: { kind: 'pass' }, note: '', rule: 3 }), 'router mine: route() returned a rule that is not a string'],
  ['a note that is not a string', () => ({ kind: 'final', decision: { kind: 'pass' }, note: {} }), 'router mine: route() returned a note that is not a string'],
  ['a reject without a status', () => ({ kind: 'final', decision: { kind: 'reject', body: 'no' }, note: '' }), 'decision.status is not an HTTP status'],
  ['a narrow result without candidates', () => ({ kind: 'narrow', labels: {}, note: '' }), 'returned a narrow result without candidates'],
  ['labels with a number', () => ({ kind: 'narrow', candidates: { instances: [] }, labels: { v: 2 }, note: '' }), 'labels.v is not a string'],
  ['a skipped entry without its reason', () => ({ kind: 'final', decision: { kind: 'pass' }, note: '', skipped: [{ destination: 'd', priority: 0 }] }), 'router mine: route() returned skipped that is not a list of { destination, priority, reason }'],
])('%s is refused, naming the router', (_what, result, message) => {
  expect(run(result)).toThrow(message);
});

test('no opinion, and a valid final result, pass through unchanged', () => {
  expect(run(() => undefined)()).toBeUndefined();
  const final = { kind: 'final', decision: { kind: 'reject', status: 403, body: 'no' }, note: 'refused', rule: 'mine' };
  expect(run(() => final)()).toBe(final);
});
