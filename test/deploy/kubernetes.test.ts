import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { DEFAULTS, loadConfig } from '../../src/config/config';
import { loadRules } from '../../src/rules';
import { ROOT } from '../support/transpile';

const DEPLOY = path.join(ROOT, 'deploy');
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };

/** The kustomization's resources and generated ConfigMaps, as `kubectl apply -k deploy/` would create them (without the hash suffix). */
function manifests(): Manifest[] {
  const kustomization = parse(fs.readFileSync(path.join(DEPLOY, 'kustomization.yaml'), 'utf8'));
  const resources = (kustomization.resources as string[]).flatMap((file) => parseAllDocuments(fs.readFileSync(path.join(DEPLOY, file), 'utf8')).map((d) => d.toJS() as Manifest));
  const generated = (kustomization.configMapGenerator as Array<{ name: string; files: string[] }>).map((g) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: g.name },
    data: Object.fromEntries(g.files.map((f) => [path.basename(f), fs.readFileSync(path.join(DEPLOY, f), 'utf8')])),
  }));
  return [...resources, ...generated];
}

/** Validates with kubernetes-models: the Kubernetes API's OpenAPI schemas for that apiVersion and kind. */
function validate(manifest: Manifest): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const models = require(`kubernetes-models/${manifest.apiVersion}`) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = models[manifest.kind];
  if (!Model) throw new Error(`kubernetes-models has no ${manifest.apiVersion} ${manifest.kind}`);
  new Model(manifest).validate();
}

describe('deploy/ Kubernetes manifests', () => {
  const all = manifests();
  const find = (kind: string, name: string) => all.find((m) => m.kind === kind && m.metadata.name === name)!;
  const deployments = all.filter((m) => m.kind === 'Deployment');

  it.each(all.map((m) => [`${m.kind} ${m.metadata.name}`, m] as const))('%s is valid against the Kubernetes API schema', (_name, manifest) => {
    expect(() => validate(manifest)).not.toThrow();
  });

  it('the schema check is not vacuous', () => {
    const broken = structuredClone(find('Deployment', 'metaroute'));
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'eighteen';
    expect(() => validate(broken)).toThrow(/containerPort/);
  });

  it('has every part the issue names: metaroute Deployment, Service, ConfigMaps, PDB, example app with sidecar and agent, gateway', () => {
    expect(all.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'ConfigMap/envoy-gateway', 'ConfigMap/envoy-sidecar', 'ConfigMap/metaroute-config', 'ConfigMap/metaroute-rules',
      'Deployment/gateway', 'Deployment/metaroute', 'Deployment/shop-gray', 'Deployment/shop-stable',
      'PodDisruptionBudget/metaroute', 'Service/gateway', 'Service/metaroute',
    ]);
  });

  it('metaroute: probes on its health endpoints, resource requests, Service ports, PDB selecting it, a valid config and rules', () => {
    const deployment = find('Deployment', 'metaroute');
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];
    const ports = Object.fromEntries(container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    expect(ports).toEqual({ 'ext-proc': DEFAULTS.ports.extProc, xds: DEFAULTS.ports.xds, admin: DEFAULTS.ports.admin });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
    const service = find('Service', 'metaroute');
    expect(service.spec.ports.map((p: { targetPort: string }) => p.targetPort).sort()).toEqual(['admin', 'ext-proc', 'xds']);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(find('PodDisruptionBudget', 'metaroute').spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);

    // The config the pod runs, with the env the pod sets, loads; the rules file it watches is mounted and valid.
    // Secret-backed variables get distinct stand-in tokens.
    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e.value ?? `${e.name}-stand-in-token`]));
    const config = loadConfig(path.join(DEPLOY, 'config', 'metaroute.yaml'), env);
    expect(config.host).toBe('0.0.0.0');
    const rulesFile = env.METAROUTE_RULES_FILE as string;
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === path.dirname(rulesFile));
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    const rules = find('ConfigMap', volume.configMap.name).data![path.basename(rulesFile)]!;
    expect(loadRules(rules, rulesFile, 1).ok).toBe(true);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(config.drainSeconds + 5);
  });

  it('every ConfigMap a pod mounts is generated, and every Envoy -c file is in its mounted ConfigMap', () => {
    for (const deployment of deployments) {
      const pod = deployment.spec.template.spec;
      for (const volume of pod.volumes ?? []) if (volume.configMap) expect(find('ConfigMap', volume.configMap.name)).toBeDefined();
      for (const container of pod.containers) {
        const args: string[] = container.args ?? [];
        if (!args.includes('-c')) continue;
        const file = args[args.indexOf('-c') + 1]!;
        const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === path.dirname(file));
        const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
        expect(Object.keys(find('ConfigMap', volume.configMap.name).data!)).toContain(path.basename(file));
      }
    }
  });

  it("example app: the agent registers the sidecar's inbound port with the metaroute Service's admin address", () => {
    const sidecar = parse(fs.readFileSync(path.join(DEPLOY, 'envoy', 'sidecar.yaml'), 'utf8'));
    const inbound = sidecar.static_resources.listeners.find((l: { name: string }) => l.name === 'inbound_http').address.socket_address.port_value;
    for (const name of ['shop-gray', 'shop-stable']) {
      const containers = find('Deployment', name).spec.template.spec.containers;
      expect(containers.map((c: { name: string }) => c.name)).toEqual(['app', 'envoy', 'agent']);
      const args: string[] = containers[2].args;
      expect(args[args.indexOf('--port') + 1]).toBe(String(inbound));
      expect(args[args.indexOf('--admin') + 1]).toBe(`http://metaroute:${DEFAULTS.ports.admin}`);
      expect(args[args.indexOf('--label') + 1]).toBe(`version=${name.slice('shop-'.length)}`);
    }
  });
});
