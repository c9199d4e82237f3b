import { DockerfileParser, Env, type Instruction } from 'dockerfile-ast';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS } from '../../src/config/config';
import { ROOT } from '../support/transpile';

/** deploy/Dockerfile parsed (no Docker engine here to build it) and checked for what the image must be. */
describe('deploy/Dockerfile', () => {
  const dockerfile = DockerfileParser.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'Dockerfile'), 'utf8'));
  const args = new Map(dockerfile.getInitialARGs().map((a) => [a.getProperty()!.getName(), a.getProperty()!.getValue()]));
  const resolve = (text: string) => text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string, b: string) => args.get(a ?? b) ?? '');
  const froms = dockerfile.getFROMs();
  const stages = dockerfile.getInstructions().reduce<Instruction[][]>((acc, i) => {
    if (i.getKeyword() === 'FROM') acc.push([]);
    acc.at(-1)?.push(i);
    return acc;
  }, []);
  const runtime = stages.at(-1)!;
  const keyword = (stage: Instruction[], k: string) => stage.filter((i) => i.getKeyword() === k);

  it('is multi-stage on a base pinned to an exact version', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) {
      const image = resolve(from.getImage()!);
      // name:tag with an exact x.y.z version, or a digest; never latest or a bare major.
      expect({ image, pinned: /@sha256:[0-9a-f]{64}$/.test(image) || /:\d+\.\d+\.\d+[\w.-]*$/.test(image) }).toEqual({ image, pinned: true });
    }
    expect(froms.at(-1)!.getBuildStage()).toBe('runtime');
  });

  it('runs as a non-root user with a HEALTHCHECK on /readyz', () => {
    const user = keyword(runtime, 'USER').at(-1)?.getArgumentsContent();
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    const health = keyword(runtime, 'HEALTHCHECK');
    expect(health).toHaveLength(1);
    expect(health[0]!.getArgumentsContent()).toContain('/readyz');
  });

  it('ships only runtime files: production dependencies, the compiled dist/ and protos/', () => {
    const copies = keyword(runtime, 'COPY').map((c) => ({ from: (c as unknown as { getFromFlag(): { getValue(): string } | null }).getFromFlag()?.getValue(), args: c.getArguments().map((a) => a.getValue()) }));
    expect(copies).toEqual([
      { from: undefined, args: ['package.json', 'package-lock.json', './'] },
      { from: 'build', args: ['/src/dist', './dist'] },
      { from: undefined, args: ['protos', './protos'] },
    ]);
    const installs = keyword(runtime, 'RUN').map((r) => r.getArgumentsContent() ?? '').filter((r) => r.includes('npm ci'));
    expect(installs).toHaveLength(1);
    expect(installs[0]).toContain('--omit=dev');
    // The TypeScript and console sources reach the build stage only (the console is built into dist/console).
    expect(keyword(stages[0]!, 'COPY').some((c) => c.getArguments()[0]!.getValue() === 'src')).toBe(true);
    expect(keyword(stages[0]!, 'COPY').some((c) => c.getArguments()[0]!.getValue() === 'web')).toBe(true);
  });

  it("keeps glibc's malloc from mapping fresh memory for every large xDS push", () => {
    const env = new Map(runtime.filter((i): i is Env => i instanceof Env).flatMap((e) => e.getProperties().map((p) => [p.getName(), Number(p.getValue())] as const)));
    // A 100,000-endpoint push (8 MB) must fit under the threshold, and freed blocks that size must stay.
    expect(env.get('MALLOC_MMAP_THRESHOLD_')).toBeGreaterThanOrEqual(16 * 2 ** 20);
    expect(env.get('MALLOC_TRIM_THRESHOLD_')).toBeGreaterThanOrEqual(2 * env.get('MALLOC_MMAP_THRESHOLD_')!);
  });

  it('exposes the default ports and starts `metaroute serve`', () => {
    const exposed = keyword(runtime, 'EXPOSE').flatMap((e) => e.getArguments().map((a) => Number(a.getValue())));
    expect(exposed.sort()).toEqual([DEFAULTS.ports.xds, DEFAULTS.ports.extProc, DEFAULTS.ports.admin].sort());
    expect(keyword(runtime, 'ENTRYPOINT')[0]!.getArgumentsContent()).toBe('["node", "dist/cli/main.js"]');
    expect(keyword(runtime, 'CMD').at(-1)!.getArgumentsContent()).toBe('["serve"]');
  });

  it('keeps the build context to what the build copies', () => {
    const ignore = fs.readFileSync(path.join(ROOT, 'deploy', 'Dockerfile.dockerignore'), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignore).toEqual(['*', '!package.json', '!package-lock.json', '!tsconfig.json', '!src/', '!web/', '!protos/']);
  });
});
