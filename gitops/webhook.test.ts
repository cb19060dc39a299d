import { SeenDeliveries, sign, verifyWebhook } from "./webhook";

const SECRET = "webhook-secret-of-the-owner";
const push = Buffer.from(JSON.stringify({ ref: "refs/heads/main", before: "0".repeat(40), after: "a".repeat(40) }));
const github = (body: Buffer, delivery = "d-1", signature = `sha256=${sign(SECRET, body)}`) => ({ "x-github-event": "push", "x-github-delivery": delivery, "x-hub-signature-256": signature });
// Forgejo sends its own headers and GitHub's (forgejo.org/docs/latest/user/webhooks).
const forgejo = (body: Buffer, delivery = "f-1", signature = sign(SECRET, body)) => ({
  "x-forgejo-event": "push",
  "x-forgejo-delivery": delivery,
  "x-forgejo-signature": signature,
  "x-gitea-signature": signature,
  "x-github-event": "push",
  "x-github-delivery": delivery,
});

test("the signature is the hex HMAC-SHA256 of the raw body (RFC 4231 test case 2)", () => {
  expect(sign("Jefe", "what do ya want for nothing?")).toBe("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
});

test("a GitHub and a Forgejo push with good signatures give the ref and the new commit", () => {
  const seen = new SeenDeliveries();
  expect(verifyWebhook(github(push), push, SECRET, seen)).toEqual({ ok: true, provider: "github", delivery: "d-1", event: "push", ref: "refs/heads/main", after: "a".repeat(40) });
  expect(verifyWebhook(forgejo(push), push, SECRET, seen)).toEqual({ ok: true, provider: "forgejo", delivery: "f-1", event: "push", ref: "refs/heads/main", after: "a".repeat(40) });
});

test("a bad, missing or other-secret signature, or a body changed after signing, is refused with 401", () => {
  const seen = new SeenDeliveries();
  const changed = Buffer.from(push.toString().replace("main", "evil"));
  expect(verifyWebhook(github(push), changed, SECRET, seen)).toMatchObject({ ok: false, status: 401 });
  expect(verifyWebhook(github(push, "d-2", `sha256=${sign("other", push)}`), push, SECRET, seen)).toMatchObject({ ok: false, status: 401, reason: expect.stringContaining("X-Hub-Signature-256") });
  expect(verifyWebhook(github(push, "d-3", sign(SECRET, push)), push, SECRET, seen)).toMatchObject({ ok: false, status: 401 });
  expect(verifyWebhook({ "x-github-event": "push", "x-github-delivery": "d-4" }, push, SECRET, seen)).toMatchObject({ ok: false, status: 401, reason: expect.stringContaining("no signature") });
  // Forgejo's own header decides: a good GitHub-style one does not rescue a bad Forgejo one.
  expect(verifyWebhook({ ...forgejo(push, "f-2", "0".repeat(64)), "x-hub-signature-256": `sha256=${sign(SECRET, push)}` }, push, SECRET, seen)).toMatchObject({ ok: false, status: 401, reason: expect.stringContaining("X-Forgejo-Signature") });
  // None of the refused deliveries was recorded: the genuine ones still pass.
  expect(verifyWebhook(github(push, "d-2"), push, SECRET, seen)).toMatchObject({ ok: true });
  expect(verifyWebhook(forgejo(push, "f-2"), push, SECRET, seen)).toMatchObject({ ok: true });
});

test("a replayed delivery is refused with 409; the oldest IDs are forgotten beyond the capacity", () => {
  const seen = new SeenDeliveries(2);
  expect(verifyWebhook(github(push, "a"), push, SECRET, seen)).toMatchObject({ ok: true });
  expect(verifyWebhook(github(push, "a"), push, SECRET, seen)).toEqual({ ok: false, status: 409, reason: "delivery a was already received (a replay)" });
  expect(verifyWebhook(github(push, "b"), push, SECRET, seen)).toMatchObject({ ok: true });
  expect(verifyWebhook(github(push, "c"), push, SECRET, seen)).toMatchObject({ ok: true });
  expect(verifyWebhook(github(push, "a"), push, SECRET, seen)).toMatchObject({ ok: true });
});

test("a ping is accepted without a ref; a push that is not JSON is a 400", () => {
  const ping = Buffer.from('{"zen":"Keep it logically awesome."}');
  expect(verifyWebhook({ ...github(ping, "p"), "x-github-event": "ping" }, ping, SECRET, new SeenDeliveries())).toEqual({ ok: true, provider: "github", delivery: "p", event: "ping" });
  const form = Buffer.from("payload=%7B%7D");
  expect(verifyWebhook(github(form, "x"), form, SECRET, new SeenDeliveries())).toMatchObject({ ok: false, status: 400, reason: expect.stringContaining("application/json") });
});
