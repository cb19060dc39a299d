import { createHash } from "crypto";

/**
 * Names of Swarm objects. Swarm configs and secrets are immutable, so each is named by its content
 * (`<stack>_<key>-<fingerprint>`): an edit makes a new object instead of failing with "only updates
 * to Labels are allowed" (moby#35048, the seed's bug), and an unchanged one keeps its name, so the
 * stack's rendered text (and its redeploy) changes exactly when the content does.
 */

/** swarmkit's rule for config and secret names (manager/controlapi/common.go). */
export const SWARM_OBJECT_NAME = /^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$/;
export const SWARM_OBJECT_NAME_MAX = 64;

/** A stack name: lowercase DNS label (it prefixes service names), no `_` (it separates stack and key). */
export const STACK_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
/** Long enough for any sensible folder name, short enough that every object name keeps room for its key. */
export const STACK_NAME_MAX = 32;

/** A compose secret/config key as this platform accepts it: it becomes part of a Swarm object name. */
export const OBJECT_KEY = /^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]*[a-zA-Z0-9])?$/;

const FINGERPRINT = /^[0-9a-f]{8}$/;

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/**
 * First 8 hex digits of the SHA-256 of a config's content. For configs only: a plain hash of a
 * weak password in a secret's name would let anyone who can list secrets test guesses offline, so
 * secrets are fingerprinted with an HMAC under a secret salt (the components do that).
 */
export function contentFingerprint(content: string): string {
  return sha256(content).slice(0, 8);
}

/**
 * The Swarm name of a stack's config or secret: `<stack>_<key>-<fingerprint>`, at most 64
 * characters. A key too long for that keeps its start and gets `.` plus 6 hex digits of its own
 * hash, so two long keys with the same start still get different names, and the same key always
 * the same name.
 * @throws Error if stack, key or fingerprint breaks the rules above (a caller's bug: parseStack checks names).
 */
export function objectName(stack: string, key: string, fingerprint: string): string {
  if (!STACK_NAME.test(stack) || stack.length > STACK_NAME_MAX) throw new Error(`invalid stack name ${JSON.stringify(stack)}`);
  if (!OBJECT_KEY.test(key)) throw new Error(`invalid secret/config key ${JSON.stringify(key)}`);
  if (!FINGERPRINT.test(fingerprint)) throw new Error(`fingerprint ${JSON.stringify(fingerprint)} is not 8 lowercase hex digits`);
  const room = SWARM_OBJECT_NAME_MAX - stack.length - 1 - 1 - fingerprint.length;
  // the kept prefix may end in "-", "_" or "."; only the whole name's first and last characters must be alphanumeric
  const shortKey = key.length <= room ? key : `${key.slice(0, room - 7)}.${sha256(key).slice(0, 6)}`;
  return `${stack}_${shortKey}-${fingerprint}`;
}
