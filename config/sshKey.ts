/** OpenSSH public key checks: a malformed key in Ignition locks the user out of a node. */

const KEY_TYPES = [
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;

/**
 * Returns why `line` is not a usable authorized_keys entry, or undefined when it is.
 * Checks the key type, the base64 body and that the body names the same key type
 * (catches keys truncated or pasted with the wrong prefix).
 */
export function sshPublicKeyProblem(line: string): string | undefined {
  if (/PRIVATE KEY/.test(line)) {
    return "this is a PRIVATE key. Remove it from the config at once and paste the .pub file's single line instead";
  }
  if (/[\r\n]/.test(line.trim())) return "a public key is a single line; paste the .pub file's one line";
  const [type, body] = line.trim().split(/\s+/);
  if (!(KEY_TYPES as readonly string[]).includes(type)) {
    return `unknown key type "${type}"; expected one of ${KEY_TYPES.join(", ")} (paste the whole line of your .pub file)`;
  }
  if (!body || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return "the key body is not base64; paste the whole line of your .pub file";
  const blob = Buffer.from(body, "base64");
  const nameLength = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  const embedded = nameLength > 0 && blob.length >= 4 + nameLength ? blob.subarray(4, 4 + nameLength).toString("latin1") : "";
  if (embedded !== type) return "the key body does not match its type (truncated or corrupted); paste the .pub file's line again";
  return undefined;
}
