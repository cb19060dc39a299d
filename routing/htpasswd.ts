/**
 * An htpasswd line with a bcrypt hash for a password the owner chose (Traefik's basic auth reads
 * it from a Swarm secret). The salt is derived from a secret key of the homelab, so the same
 * password gives the same line on every run (no redeploy), while two homelabs never share a hash.
 * Generated passwords use @pulumi/random's own bcrypt hash instead.
 */
import * as bcrypt from "bcryptjs";
import * as crypto from "crypto";

/** bcrypt's cost: 2^10 rounds, as htpasswd -B and @pulumi/random use. */
const COST = 10;

export function htpasswdLine(user: string, password: string, saltKey: string): string {
  const seed = crypto.createHmac("sha256", saltKey).update(`htpasswd:${user}`).digest().subarray(0, 16);
  // "$2a$": what Traefik's basic auth and @pulumi/random's hashes use.
  const salt = `$2a$${COST}$${bcrypt.encodeBase64(seed, 16)}`;
  return `${user}:${bcrypt.hashSync(password, salt)}\n`;
}
