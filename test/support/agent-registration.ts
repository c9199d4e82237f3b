import { AdminAuth } from '../../src/admin/auth';
import type { ServerConfig } from '../../src/config/config';

/**
 * Why the server configuration `config` refuses what `metaroute agent <args>` registers with
 * `token` (the 403's reason), or undefined when it accepts it. `host` stands in for an
 * address only the platform knows (`$(POD_IP)`).
 */
export function agentRegistrationRefusal(config: ServerConfig, token: string, args: readonly string[], host?: string): string | undefined {
  const grant = config.auth.tokens.find((t) => t.token === token);
  if (!grant) return 'its token is none of the configuration';
  const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const labels = Object.fromEntries(args.flatMap((arg, i) => (args[i - 1] === '--label' ? [arg.split('=') as [string, string]] : [])));
  return new AdminAuth(config.auth, config.host).refusal(grant, {
    namespace: option('--namespace') ?? 'default',
    service: option('--service')!,
    metadata: labels,
    host: host ?? option('--host')!,
  });
}
