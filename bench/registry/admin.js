// The admin API calls the registry benches make: one instance of the big service, and a POST.
'use strict';

const instance = (i, version = i % 2 ? 'gray' : 'stable') => ({
  service: 'big', id: `i${i}`, host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, metadata: { version, user: `u${i}` }, ttlSeconds: 3600,
});

async function post(admin, urlPath, body) {
  const res = await fetch(`${admin}${urlPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${urlPath}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

module.exports = { instance, post };
