import { request } from '../routing/helpers';

describe('RequestContext query parameters', () => {
  const ctx = request({ ':path': '/search?name=J%C3%BCrgen&q=a+b&plain=x&bad=%E0%A4%A&plain=second&flag' });

  it('decodes percent escapes and + as a space', () => {
    expect(ctx.query('name')).toBe('Jürgen');
    expect(ctx.query('q')).toBe('a b');
  });

  it('keeps plain values, the first of a repeated key, and bare keys', () => {
    expect(ctx.query('plain')).toBe('x');
    expect(ctx.query('flag')).toBe('');
    expect(ctx.query('missing')).toBeUndefined();
  });

  it('keeps a malformed escape verbatim rather than failing the request', () => {
    expect(ctx.query('bad')).toBe('%E0%A4%A');
  });
});
