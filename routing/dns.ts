/**
 * AdGuard Home's configuration (AdGuardHome.yaml), rendered from the homelab config and the routed
 * hosts (pure): every host Traefik answers for is rewritten to every manager Traefik runs on, so a
 * new routed service needs no DNS edit, and a Pi that is off costs one of several answers, not the
 * URL. The file holds the admin's bcrypt hash, so it reaches the stack as a Swarm secret.
 */
import { stringifyCompose } from "../compose/yaml";
import { RoutedHost } from "./hosts";

export interface DnsSettings {
  /** Where names that are not the homelab's are resolved (plain DNS, DoT or DoH as AdGuard Home takes them). */
  readonly upstreams: readonly string[];
  /** The addresses a routed host resolves to: the managers, where Traefik runs. */
  readonly answers: readonly string[];
}

export interface DnsRewrite {
  readonly domain: string;
  readonly answer: string;
  readonly enabled: true;
}

/** The admin user of AdGuard Home's web UI (its password is made by the platform, a secret output). */
export const DNS_ADMIN_USER = "admin";

/**
 * One rewrite per routed host and answer (AdGuard Home returns every matching rewrite's address, so
 * a client tries the next manager when one is off), sorted so the file is stable.
 */
export function dnsRewrites(hosts: readonly RoutedHost[], answers: readonly string[]): DnsRewrite[] {
  const domains = [...new Set(hosts.map((h) => h.host))].sort();
  return domains.flatMap((domain) => answers.map((answer) => ({ domain, answer, enabled: true as const })));
}

/**
 * AdGuardHome.yaml for AdGuard Home v0.107: the web UI on :3000 (reached through Traefik), DNS on
 * :53 with the upstreams from config, the rewrites, and the default blocklist. The entrypoint of
 * stacks/dns copies it into place at every start: settings changed in the UI last until the next
 * restart; the config is the source of truth.
 */
export function renderAdGuardConfig(settings: DnsSettings, hosts: readonly RoutedHost[], adminPasswordBcrypt: string): string {
  return (
    "# Rendered by homelab (routing/dns.ts) from the stack config: change the config, not this file.\n" +
    stringifyCompose({
      http: { address: "0.0.0.0:3000", session_ttl: "720h" },
      users: [{ name: DNS_ADMIN_USER, password: adminPasswordBcrypt }],
      auth_attempts: 5,
      block_auth_min: 15,
      dns: {
        bind_hosts: ["0.0.0.0"],
        port: 53,
        upstream_dns: [...settings.upstreams],
        bootstrap_dns: ["9.9.9.10", "149.112.112.10"],
        upstream_mode: "load_balance",
        cache_size: 4194304,
      },
      filtering: {
        protection_enabled: true,
        filtering_enabled: true,
        rewrites: dnsRewrites(hosts, settings.answers),
      },
      filters: [{ enabled: true, url: "https://adguardteam.github.io/HostlistsRegistry/assets/filter_1.txt", name: "AdGuard DNS filter", id: 1 }],
      schema_version: 29,
    })
  );
}
