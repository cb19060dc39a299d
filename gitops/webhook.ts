/**
 * Push webhooks for the GitOps runner (issue 12, groundwork: nothing serves them yet; see
 * docs/gitops.md). A webhook is only a trigger: the runner then fetches the branch itself and
 * applies what git says, so a replayed delivery can at most cause one more fetch. Still, every
 * delivery is checked before a byte of it is parsed:
 * - GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`;
 * - Forgejo (and Gitea): `X-Forgejo-Signature` (or, without it, `X-Gitea-Signature`): the bare hex
 *   HMAC-SHA256 of the raw body. Forgejo also sends GitHub's event and delivery headers, so its own
 *   signature header decides which format a request is;
 * - the signature is compared in constant time; a delivery ID seen before is refused (neither
 *   signature covers a timestamp, so a captured delivery would otherwise replay cleanly).
 */
import * as crypto from "crypto";

export type Provider = "github" | "forgejo";

export type WebhookResult =
  | { readonly ok: true; readonly provider: Provider; readonly delivery: string; readonly event: string; readonly ref?: string; readonly after?: string }
  | { readonly ok: false; readonly status: 400 | 401 | 409; readonly reason: string };

/** Header names in lower case, as Node's http module gives them. */
export type Headers = Readonly<Record<string, string | string[] | undefined>>;

const header = (h: Headers, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The hex HMAC-SHA256 of `body` under `secret`, as both forges compute it. */
export function sign(secret: string, body: Buffer | string): string {
  return crypto.createHmac("sha256", secret).update(body).digest("hex");
}

function sameHex(given: string, expected: string): boolean {
  if (!/^[0-9a-f]{64}$/i.test(given)) return false;
  return crypto.timingSafeEqual(Buffer.from(given.toLowerCase(), "hex"), Buffer.from(expected, "hex"));
}

/** Delivery IDs seen, the oldest forgotten first beyond `capacity`. */
export class SeenDeliveries {
  private readonly ids = new Set<string>();
  constructor(private readonly capacity = 1000) {}
  /** True the first time `id` is seen. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as string);
    return true;
  }
}

/**
 * Checks one delivery: its signature under `secret`, its delivery ID against `seen` (recorded
 * only when the signature holds, so forged requests cannot fill it), then reads the event, and
 * for a push its ref and new commit.
 */
export function verifyWebhook(headers: Headers, body: Buffer, secret: string, seen: SeenDeliveries): WebhookResult {
  const forgejo = header(headers, "x-forgejo-signature") ?? header(headers, "x-gitea-signature");
  const github = header(headers, "x-hub-signature-256");
  const expected = sign(secret, body);
  let provider: Provider;
  if (forgejo !== undefined) {
    if (!sameHex(forgejo.trim(), expected)) return { ok: false, status: 401, reason: "the X-Forgejo-Signature does not match the body under the webhook secret" };
    provider = "forgejo";
  } else if (github !== undefined) {
    const m = /^sha256=([0-9a-fA-F]{64})$/.exec(github.trim());
    if (!m || !sameHex(m[1], expected)) return { ok: false, status: 401, reason: "the X-Hub-Signature-256 does not match the body under the webhook secret" };
    provider = "github";
  } else {
    return { ok: false, status: 401, reason: "no signature: set the webhook's secret in the forge (GitHub: X-Hub-Signature-256; Forgejo: X-Forgejo-Signature)" };
  }
  const delivery = provider === "forgejo" ? header(headers, "x-forgejo-delivery") ?? header(headers, "x-gitea-delivery") : header(headers, "x-github-delivery");
  if (!delivery) return { ok: false, status: 400, reason: "no delivery ID header" };
  const event = (provider === "forgejo" ? header(headers, "x-forgejo-event") ?? header(headers, "x-gitea-event") : header(headers, "x-github-event")) ?? "";
  if (!seen.add(delivery)) return { ok: false, status: 409, reason: `delivery ${delivery} was already received (a replay)` };
  if (event !== "push") return { ok: true, provider, delivery, event };
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString("utf8"));
  } catch {
    return { ok: false, status: 400, reason: "a push whose body is not JSON (set the webhook's content type to application/json)" };
  }
  const p = payload as { ref?: unknown; after?: unknown };
  return {
    ok: true,
    provider,
    delivery,
    event,
    ...(typeof p.ref === "string" ? { ref: p.ref } : {}),
    ...(typeof p.after === "string" && /^[0-9a-f]{40,64}$/.test(p.after) ? { after: p.after } : {}),
  };
}
