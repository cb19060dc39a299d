/**
 * An haproxy config that passes a few Docker API calls to the node's socket and refuses every other
 * with 403: the JIT helper's and the backup agent's filters (like Traefik's socket-proxy, but
 * written for exactly the calls each program makes). Pure text; the rules are the caller's.
 */

/** Docker's paths may carry an API version prefix (`/v1.41/services`). */
export const DOCKER_PATH = "^(/v[0-9]+\\.[0-9]+)?";

export interface SocketFilter {
  /** Who renders it and for whom, for the file's first line. */
  readonly header: string;
  /** Seconds a call may take (reading a job's logs takes a while on a slow card). */
  readonly timeoutSeconds: number;
  /** Read the request body before the rules (for `req.body` ACLs). */
  readonly bufferBody?: boolean;
  /** `acl` lines without the keyword: `name criterion`. */
  readonly acls: readonly string[];
  /** The conditions of `http-request allow if …`, each a line. */
  readonly allow: readonly string[];
}

export function renderSocketFilter(filter: SocketFilter): string {
  return [
    `# ${filter.header}`,
    "global",
    "    log stdout format raw local0 info",
    "    maxconn 32",
    "",
    "defaults",
    "    mode http",
    "    log global",
    "    option httplog",
    "    timeout connect 5s",
    `    timeout client ${filter.timeoutSeconds}s`,
    `    timeout server ${filter.timeoutSeconds}s`,
    "",
    "frontend docker-api",
    "    bind :2375",
    ...(filter.bufferBody ? ["    option http-buffer-request"] : []),
    `    acl negotiation path_reg ${DOCKER_PATH}/(_ping|version)$`,
    ...filter.acls.map((acl) => `    acl ${acl}`),
    ...filter.allow.map((condition) => `    http-request allow if ${condition}`),
    "    http-request deny deny_status 403",
    "    default_backend dockerd",
    "",
    "backend dockerd",
    "    server dockerd /var/run/docker.sock",
    "",
  ].join("\n");
}
