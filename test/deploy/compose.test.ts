import Ajv from 'ajv';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/config';
import { agentRegistrationRefusal } from '../support/agent-registration';
import { devCertificates, OPENSSL } from '../support/certificates';
import { filesEnvoyReads } from '../support/envoy';
import { describeWith } from '../support/requires';
import { ROOT } from '../support/transpile';

/** deploy/compose.yaml against the Compose specification's JSON schema (as shipped in the dclint package). */
describe('deploy/compose.yaml', () => {
  const file = path.join(ROOT, 'deploy', 'compose.yaml');
  const compose = parse(fs.readFileSync(file, 'utf8'));
  // The schema names draft-07 by an https URL ajv does not know as its meta-schema; the keywords are draft-07's.
  // (dclint's package exports do not list the file, so it is read by path.)
  const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'dclint', 'schemas', 'compose.schema.json'), 'utf8'));
  delete schema.$schema;
  const validate = new Ajv({ strict: false, allErrors: true, logger: false }).compile(schema);

  it('is valid Compose', () => {
    if (!validate(compose)) throw new Error(JSON.stringify(validate.errors, null, 2));
    // The schema is not vacuous: a misspelt service key fails it.
    expect(validate({ services: { x: { imag: 'a' } } })).toBe(false);
  });

  it('runs metaroute, the gateway and two backends with their agents, as in the README walkthrough', () => {
    const services = compose.services as Record<string, any>;
    expect(Object.keys(services).sort()).toEqual(['agent-gray', 'agent-stable', 'gateway', 'metaroute', 'shop-gray', 'shop-stable']);
    expect(services.metaroute.build).toEqual({ context: '..', dockerfile: 'deploy/Dockerfile' });
    expect(services.gateway.depends_on.metaroute.condition).toBe('service_healthy');
    for (const version of ['gray', 'stable']) {
      const address = services[`shop-${version}`].networks.mesh.ipv4_address;
      const agent = services[`agent-${version}`].command as string[];
      expect(agent.slice(0, 1)).toEqual(['agent']);
      expect(agent[agent.indexOf('--host') + 1]).toBe(address);
      expect(agent[agent.indexOf('--label') + 1]).toBe(`version=${version}`);
    }
    for (const service of Object.values(services)) {
      if (service.image) expect({ image: service.image, pinned: /:v?\d+\.\d+\.\d+/.test(service.image) || service.image.startsWith('metaroute:') }).toEqual({ image: service.image, pinned: true });
      for (const volume of service.volumes ?? []) {
        const source = String(volume).split(':')[0]!;
        // ./tls/ is made by scripts/dev-certs.sh (not committed): checked below.
        if (source.startsWith('./') && !source.startsWith('./tls/')) expect({ source, exists: fs.existsSync(path.join(ROOT, 'deploy', source)) }).toEqual({ source, exists: true });
      }
    }
  });

  describeWith(OPENSSL, 'mutual TLS between the gateway and metaroute', () => {
    const mounts = (service: string) =>
      new Map(((compose.services[service].volumes ?? []) as string[]).map((v) => v.split(':')).map(([source, target]) => [target!, source!]));

    it('mounts the folders scripts/dev-certs.sh deploy/tls makes where the configs read them', () => {
      const made = devCertificates();
      // metaroute: its config's relative tls/ paths, next to the mounted config file.
      const metaroute = mounts('metaroute');
      const configAt = [...metaroute.keys()].find((t) => t.endsWith('/metaroute.yaml'))!;
      const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-compose-'));
      fs.copyFileSync(path.join(ROOT, 'deploy', metaroute.get(configAt)!), path.join(copy, 'metaroute.yaml'));
      const tlsSource = metaroute.get(path.posix.join(path.posix.dirname(configAt), 'tls'))!;
      expect(tlsSource).toMatch(/^\.\/tls\//);
      fs.cpSync(path.join(made, tlsSource.slice('./tls/'.length)), path.join(copy, 'tls'), { recursive: true });
      const env = { METAROUTE_ADMIN_TOKEN: 'admin-stand-in-token', METAROUTE_REGISTRATION_TOKEN: 'registration-stand-in-token' };
      const config = loadConfig(path.join(copy, 'metaroute.yaml'), env);
      expect([config.extProc.tls?.clientCaFile, config.xds.tls?.clientCaFile]).toEqual([path.join(copy, 'tls', 'ca.crt'), path.join(copy, 'tls', 'ca.crt')]);
      // Each agent's registration (its labels, with the token its METAROUTE_TOKEN names) is one this configuration accepts.
      for (const name of ['agent-gray', 'agent-stable']) {
        const variable = /^\$\{(\w+)\}$/.exec(compose.services[name].environment.METAROUTE_TOKEN)![1]! as keyof typeof env;
        expect({ name, refusal: agentRegistrationRefusal(config, env[variable], compose.services[name].command) }).toEqual({ name, refusal: undefined });
      }
      // The gateway: every file its Envoy reads (its SDS files, the certificates they name) is mounted: itself, or in a mounted folder.
      const gateway = mounts('gateway');
      const files = filesEnvoyReads(parse(fs.readFileSync(path.join(ROOT, 'deploy', gateway.get('/etc/envoy/gateway.yaml')!), 'utf8')));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const own = gateway.get(file);
        const folder = gateway.get(path.posix.dirname(file));
        const exists = own ? fs.existsSync(path.join(ROOT, 'deploy', own)) : folder !== undefined && fs.existsSync(path.join(made, folder.slice('./tls/'.length), path.posix.basename(file)));
        expect({ file, exists }).toEqual({ file, exists: true });
      }
    });
  });
});
