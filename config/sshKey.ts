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
type KeyType = (typeof KEY_TYPES)[number];

/** How many SSH wire-format strings each key blob holds (RFC 4253 6.6, RFC 5656, PROTOCOL.u2f). */
const BLOB_FIELDS: Record<KeyType, number> = {
  "ssh-ed25519": 2,
  "ssh-rsa": 3,
  "ecdsa-sha2-nistp256": 3,
  "ecdsa-sha2-nistp384": 3,
  "ecdsa-sha2-nistp521": 3,
  "sk-ssh-ed25519@openssh.com": 3,
  "sk-ecdsa-sha2-nistp256@openssh.com": 4,
};

/** Splits a key blob into its length-prefixed strings; undefined when a length runs past the end (truncated). */
function wireStrings(blob: Buffer): Buffer[] | undefined {
  const fields: Buffer[] = [];
  let offset = 0;
  while (offset < blob.length) {
    if (offset + 4 > blob.length) return undefined;
    const length = blob.readUInt32BE(offset);
    if (offset + 4 + length > blob.length) return undefined;
    fields.push(blob.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  return fields;
}

/** The base64 of "openssh-key-v1", how every OpenSSH private key body starts (also without its BEGIN line). */
const OPENSSH_PRIVATE_BODY = "b3BlbnNzaC1rZXktdjE";

/**
 * Returns why `line` is not a usable authorized_keys entry ("… Fix: …"), or undefined when it is.
 * Checks the key type, the base64 body and that the body names the same key type
 * (catches keys truncated or pasted with the wrong prefix). Never quotes more than a short key
 * type back, because the line may be secret (a private key pasted by mistake ends up in CI logs).
 */
export function sshPublicKeyProblem(line: string): string | undefined {
  const fixLine = "Fix: paste the single line of your .pub file (e.g. ~/.ssh/id_ed25519.pub)";
  if (/PRIVATE KEY|PuTTY-User-Key-File|Private-Lines:/.test(line) || line.includes(OPENSSH_PRIVATE_BODY)) {
    return `this is a PRIVATE key (not shown). Fix: remove it from the config at once, treat it as leaked, and paste the .pub file's single line instead`;
  }
  if (/[\r\n]/.test(line.trim())) return `a public key is a single line. ${fixLine}`;
  const [type, body] = line.trim().split(/\s+/);
  if (!(KEY_TYPES as readonly string[]).includes(type)) {
    const shown = type.length <= 40 ? `"${type}"` : "(not shown)";
    return `unknown key type ${shown}; expected one of ${KEY_TYPES.join(", ")}. ${fixLine}`;
  }
  if (!body || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return `the key body is not base64. ${fixLine}`;
  // Checking only the embedded type name would pass a key cut anywhere after its first 20 characters.
  const fields = wireStrings(Buffer.from(body, "base64"));
  const keyType = type as KeyType;
  const complete =
    fields !== undefined &&
    fields.length === BLOB_FIELDS[keyType] &&
    fields[0].toString("latin1") === keyType &&
    (!keyType.includes("ed25519") || fields[1].length === 32);
  if (!complete) return `the key body does not match its type "${type}" (truncated or corrupted). ${fixLine}`;
  return undefined;
}
