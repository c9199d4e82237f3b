import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { DEFAULTS, loadConfig } from '../../src/config/config';
import { loadRules } from '../../src/rules';
import { agentRegistrationRefusal } from '../support/agent-registration';
import { devCertificates, OPENSSL } from '../support/certificates';
import { filesEnvoyReads } from '../support/envoy';
import { describeWith } from '../support/requires';
import { ROOT } from '../support/transpile';

const DEPLOY = path.join(ROOT, 'deploy');
type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };

const documents = (file: string): Manifest[] => parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS() as Manifest);

/** A merge patch as kustomize applies it to these manifests: maps merge, `null` deletes, anything else replaces. */
function merge(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = { ...(target ?? {}) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

/**
 * What `kubectl apply -k DIR` creates (without the hash suffixes), for the features these
 * kustomizations use: resources (files or a base directory), configMapGenerator (with
 * behavior: replace) and patches that name their target by kind and name.
 */
function manifests(dir = DEPLOY): Manifest[] {
  const kustomization = parse(fs.readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8'));
  let all: Manifest[] = (kustomization.resources as string[]).flatMap((entry) => {
    const target = path.join(dir, entry);
    return fs.statSync(target).isDirectory() ? manifests(target) : documents(target);
  });
  for (const g of (kustomization.configMapGenerator ?? []) as Array<{ name: string; files: string[]; behavior?: string }>) {
    const configMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data: Object.fromEntries(g.files.map((f) => [path.basename(f), fs.readFileSync(path.join(dir, f), 'utf8')])) };
    if (g.behavior === 'replace') expect(all.some((m) => m.kind === 'ConfigMap' && m.metadata.name === g.name)).toBe(true);
    all = [...all.filter((m) => !(m.kind === 'ConfigMap' && m.metadata.name === g.name)), configMap];
  }
  for (const { path: file } of (kustomization.patches ?? []) as Array<{ path: string }>) {
    for (const patch of documents(path.join(dir, file))) {
      const index = all.findIndex((m) => m.kind === patch.kind && m.metadata.name === patch.metadata.name);
      expect({ patch: `${patch.kind}/${patch.metadata.name}`, found: index >= 0 }).toEqual({ patch: `${patch.kind}/${patch.metadata.name}`, found: true });
      all[index] = merge(all[index], patch);
    }
  }
  return all;
}

/** Validates with kubernetes-models: the Kubernetes API's OpenAPI schemas for that apiVersion and kind. */
function validate(manifest: Manifest): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const models = require(`kubernetes-models/${manifest.apiVersion}`) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = models[manifest.kind];
  if (!Model) throw new Error(`kubernetes-models has no ${manifest.apiVersion} ${manifest.kind}`);
  new Model(manifest).validate();
}

/** The container's environment; Secret-backed variables get distinct stand-in tokens. */
function podEnv(container: any): Record<string, string> {
  return Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e.value ?? `${e.name}-stand-in-token`]));
}

/** The name of the Secret a container mounts at `dir`, or undefined. */
function secretMountedAt(pod: any, container: any, dir: string): string | undefined {
  return volumeMountedAt(pod, container, dir)?.secret?.secretName;
}

function configMapMountedAt(pod: any, container: any, dir: string): string | undefined {
  return volumeMountedAt(pod, container, dir)?.configMap?.name;
}

function volumeMountedAt(pod: any, container: any, dir: string): any {
  const mount = (container.volumeMounts ?? []).find((m: { mountPath: string }) => m.mountPath === dir);
  return pod.volumes.find((v: { name: string }) => v.name === mount?.name);
}

/**
 * Loads `file` as the pod would: from a copy whose `tls/` folder is the pod's Secret `secret`
 * (which must be mounted at <config dir>/tls, where the config's relative paths point), filled
 * with what scripts/dev-certs.sh made for metaroute.
 */
function loadPodConfig(pod: any, container: any, file: string, secret: string, made: string) {
  const configPath = (container.args as string[])[(container.args as string[]).indexOf('--config') + 1]!;
  expect(secretMountedAt(pod, container, path.posix.join(path.posix.dirname(configPath), 'tls'))).toBe(secret);
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-pod-'));
  fs.copyFileSync(file, path.join(copy, 'metaroute.yaml'));
  fs.cpSync(path.join(made, 'metaroute'), path.join(copy, 'tls'), { recursive: true });
  // The rules file the pod reads comes from the ConfigMap metaroute-rules (deploy/config/rules.yaml), mounted at its folder.
  const env = podEnv(container);
  expect(configMapMountedAt(pod, container, path.posix.dirname(env.METAROUTE_RULES_FILE!))).toBe('metaroute-rules');
  fs.copyFileSync(path.join(__dirname, '..', '..', 'deploy', 'config', 'rules.yaml'), path.join(copy, 'rules.yaml'));
  const config = loadConfig(path.join(copy, 'metaroute.yaml'), { ...env, METAROUTE_RULES_FILE: path.join(copy, 'rules.yaml') });
  const tls = { certFile: path.join(copy, 'tls', 'tls.crt'), keyFile: path.join(copy, 'tls', 'tls.key'), clientCaFile: path.join(copy, 'tls', 'ca.crt'), reloadSeconds: 60 };
  expect({ extProc: config.extProc.tls, xds: config.xds.tls }).toEqual({ extProc: tls, xds: tls });
  return config;
}

/**
 * Each agent container's registration as the metaroute pod's configuration `file` answers it:
 * the agent's `--token-file` is a Secret key, which the metaroute container reads into an
 * environment variable its `tokenEnv` names. Undefined refusal: registered.
 */
function agentRegistrations(all: Manifest[], file: string, made: string): Array<{ agent: string; refusal: string | undefined }> {
  const pod = all.find((m) => m.kind === 'Deployment' && m.metadata.name === 'metaroute')!.spec.template.spec;
  const metaroute = pod.containers[0];
  const config = loadPodConfig(pod, metaroute, file, 'metaroute-tls', made);
  const agents = all.filter((m) => m.kind === 'Deployment').flatMap((d) => d.spec.template.spec.containers.filter((c: { args?: string[] }) => c.args?.[0] === 'agent').map((c: any) => [d, c] as const));
  expect(agents.length).toBeGreaterThan(0);
  return agents.map(([deployment, agent]) => {
    const args: string[] = agent.args;
    const tokenFile = args[args.indexOf('--token-file') + 1]!;
    const secret = volumeMountedAt(deployment.spec.template.spec, agent, path.posix.dirname(tokenFile)).secret;
    const key = secret.items.find((i: { path: string }) => i.path === path.posix.basename(tokenFile)).key;
    const variable = metaroute.env.find((e: any) => e.valueFrom?.secretKeyRef?.name === secret.secretName && e.valueFrom.secretKeyRef.key === key)?.name;
    return { agent: deployment.metadata.name, refusal: agentRegistrationRefusal(config, podEnv(metaroute)[variable] ?? '', args, '10.244.0.7') };
  });
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

    // The rules file the pod watches is mounted and valid.
    const env = podEnv(container);
    const rulesFile = env.METAROUTE_RULES_FILE as string;
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === path.dirname(rulesFile));
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    const rules = find('ConfigMap', volume.configMap.name).data![path.basename(rulesFile)]!;
    expect(loadRules(rules, rulesFile, 1).ok).toBe(true);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(DEFAULTS.drainSeconds + 5);
  });

  describeWith(OPENSSL, 'mutual TLS between the Envoys and metaroute', () => {
    let made: string;
    beforeAll(() => {
      made = devCertificates();
    });

    it('the config the pod runs loads with the env it sets and the Secret metaroute-tls mounted beside it (as scripts/dev-certs.sh makes it)', () => {
      const pod = find('Deployment', 'metaroute').spec.template.spec;
      const container = pod.containers[0];
      const config = loadPodConfig(pod, container, path.join(DEPLOY, 'config', 'metaroute.yaml'), 'metaroute-tls', made);
      expect(config.host).toBe('0.0.0.0');
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(config.drainSeconds + 5);
    });

    it("each agent's registration (its labels, with the token it mounts) is one the configuration accepts", () => {
      expect(agentRegistrations(all, path.join(DEPLOY, 'config', 'metaroute.yaml'), made)).toEqual([
        { agent: 'shop-gray', refusal: undefined },
        { agent: 'shop-stable', refusal: undefined },
      ]);
    });

    it('every Envoy reads its SDS files from its ConfigMap, and its client certificate and the CA from the Secret metaroute-envoy-tls', () => {
      const envoys = deployments.flatMap((d) => d.spec.template.spec.containers.filter((c: { image: string }) => c.image.startsWith('envoyproxy/')).map((c: any) => [d, c] as const));
      expect(envoys.length).toBe(3);
      for (const [deployment, container] of envoys) {
        const pod = deployment.spec.template.spec;
        const args: string[] = container.args;
        const bootstrap = parse(fs.readFileSync(path.join(DEPLOY, 'envoy', path.basename(args[args.indexOf('-c') + 1]!)), 'utf8'));
        const files = filesEnvoyReads(bootstrap);
        const sds = files.filter((f) => f.endsWith('.yaml'));
        expect(sds.length).toBeGreaterThan(0);
        for (const file of sds) {
          const configMap = configMapMountedAt(pod, container, path.posix.dirname(file));
          expect({ deployment: deployment.metadata.name, file, inConfigMap: configMap !== undefined && path.posix.basename(file) in find('ConfigMap', configMap).data! }).toEqual({ deployment: deployment.metadata.name, file, inConfigMap: true });
        }
        for (const file of files.filter((f) => !sds.includes(f))) {
          const secret = secretMountedAt(pod, container, path.posix.dirname(file));
          expect({ deployment: deployment.metadata.name, file, secret, exists: fs.existsSync(path.join(made, 'envoy', path.posix.basename(file))) }).toEqual({
            deployment: deployment.metadata.name, file, secret: 'metaroute-envoy-tls', exists: true,
          });
        }
      }
    });
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

describe('deploy/etcd: several replicas on a shared etcd', () => {
  const all = manifests(path.join(DEPLOY, 'etcd'));
  const find = (kind: string, name: string) => all.find((m) => m.kind === kind && m.metadata.name === name)!;

  it.each(all.map((m) => [`${m.kind} ${m.metadata.name}`, m] as const))('%s is valid against the Kubernetes API schema', (_name, manifest) => {
    expect(() => validate(manifest)).not.toThrow();
  });

  it('runs three metaroute replicas rolled one at a time, two always up, on a three-member etcd', () => {
    const deployment = find('Deployment', 'metaroute');
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(find('PodDisruptionBudget', 'metaroute').spec).toEqual({ minAvailable: 2, selector: deployment.spec.selector });
    expect(find('StatefulSet', 'etcd').spec.replicas).toBe(3);
  });

  describeWith(OPENSSL, 'with the Secret metaroute-tls', () => it("the replicas' configuration selects etcd, naming each member by its stable DNS name", () => {
    const file = path.join(DEPLOY, 'etcd', 'metaroute.yaml');
    expect(find('ConfigMap', 'metaroute-config').data!['metaroute.yaml']).toBe(fs.readFileSync(file, 'utf8'));
    const pod = find('Deployment', 'metaroute').spec.template.spec;
    const config = loadPodConfig(pod, pod.containers[0], file, 'metaroute-tls', devCertificates());
    const statefulSet = find('StatefulSet', 'etcd');
    const members = Array.from({ length: statefulSet.spec.replicas }, (_, i) => `http://${statefulSet.metadata.name}-${i}.${statefulSet.spec.serviceName}:2379`);
    expect(config.store).toMatchObject({ kind: 'etcd', endpoints: members });
    expect(find('Service', statefulSet.spec.serviceName).spec.clusterIP).toBe('None');
    expect(agentRegistrations(all, file, devCertificates()).map((r) => r.refusal)).toEqual([undefined, undefined]);
  }));
});
