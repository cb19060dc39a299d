/**
 * A publicly trusted wildcard certificate for a real domain, by ACME DNS challenge (no port open to
 * the internet), added to the traefik stack from the config (pure): the DNS provider's credentials
 * become Swarm secrets from config secrets, passed to lego as `<NAME>_FILE` variables (never the
 * value in an environment variable), and the account and certificates persist in a volume.
 */
import { isPlainObject } from "../config/reader";
import { AcmeConfig } from "../config/schema";
import { StackSecret, StackSource } from "../compose/types";

/** The certificate resolver's name in Traefik's static configuration. */
export const ACME_RESOLVER = "acme";
/** Where the traefik service keeps acme.json (a named volume: each manager keeps its own). */
export const ACME_STORAGE = "/acme/acme.json";
/** The Traefik service of stacks/traefik that gets the credentials. */
const TRAEFIK_SERVICE = "traefik";

/** The Swarm secret key of one credential, e.g. CF_DNS_API_TOKEN → acme_cf_dns_api_token. */
export function acmeSecretKey(env: string): string {
  return `acme_${env.toLowerCase()}`;
}

/** The traefik stack with the ACME credentials as secrets (`*_FILE` variables) and a volume for acme.json. */
export function withAcme(stack: StackSource, acme: AcmeConfig): StackSource {
  const document = structuredClone(stack.document) as Record<string, any>;
  const service = document.services?.[TRAEFIK_SERVICE];
  if (!isPlainObject(service)) throw new Error(`${stack.file}: no service "${TRAEFIK_SERVICE}" to give the ACME credentials to`);
  const secrets: StackSecret[] = Object.entries(acme.credentials).map(([env, key]) => ({ key: acmeSecretKey(env), source: { kind: "config", key } }));
  document.secrets = { ...document.secrets, ...Object.fromEntries(secrets.map((s) => [s.key, { "x-homelab": { config: (s.source as { key: string }).key } }])) };
  service.secrets = [...(Array.isArray(service.secrets) ? service.secrets : []), ...secrets.map((s) => s.key)];
  const files = Object.fromEntries(Object.keys(acme.credentials).map((env) => [`${env}_FILE`, `/run/secrets/${acmeSecretKey(env)}`]));
  service.environment = isPlainObject(service.environment)
    ? { ...service.environment, ...files }
    : [...(Array.isArray(service.environment) ? service.environment : []), ...Object.entries(files).map(([k, v]) => `${k}=${v}`)];
  service.volumes = [...(Array.isArray(service.volumes) ? service.volumes : []), `acme:${ACME_STORAGE.slice(0, ACME_STORAGE.lastIndexOf("/"))}`];
  document.volumes = { ...document.volumes, acme: {} };
  return { ...stack, document, secrets: [...stack.secrets, ...secrets] };
}
