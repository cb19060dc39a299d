import { contentFingerprint, objectName, SWARM_OBJECT_NAME, SWARM_OBJECT_NAME_MAX } from "./names";

describe("contentFingerprint", () => {
  test("is the first 8 hex digits of the content's SHA-256", () => {
    // sha256("hello\n") = 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03
    expect(contentFingerprint("hello\n")).toBe("5891b5b5");
  });

  test("changes with the content, also by one byte", () => {
    expect(contentFingerprint("hello")).not.toBe(contentFingerprint("hello\n"));
  });
});

describe("objectName", () => {
  test("is <stack>_<key>-<fingerprint>", () => {
    expect(objectName("monitoring", "prometheus_yml", "0123abcd")).toBe("monitoring_prometheus_yml-0123abcd");
  });

  test("a name that fits is kept whole, up to exactly 64 characters", () => {
    const key = "k".repeat(64 - "stack".length - 2 - 8);
    const name = objectName("stack", key, "0123abcd");
    expect(name).toBe(`stack_${key}-0123abcd`);
    expect(name).toHaveLength(SWARM_OBJECT_NAME_MAX);
  });

  test("a long key is shortened deterministically to 64 characters, still a valid Swarm name", () => {
    const key = `${"a".repeat(70)}.conf`;
    const name = objectName("monitoring", key, "0123abcd");
    expect(name).toHaveLength(SWARM_OBJECT_NAME_MAX);
    expect(name).toMatch(SWARM_OBJECT_NAME);
    expect(name).toMatch(/^monitoring_a+\.[0-9a-f]{6}-0123abcd$/);
    expect(objectName("monitoring", key, "0123abcd")).toBe(name);
  });

  test("two long keys that share their start get different names", () => {
    const prefix = "x".repeat(80);
    expect(objectName("s", `${prefix}1`, "0123abcd")).not.toBe(objectName("s", `${prefix}2`, "0123abcd"));
  });

  test("the longest stack name still leaves room for a shortened key", () => {
    const stack = "s".repeat(32);
    const name = objectName(stack, "k".repeat(100), "0123abcd");
    expect(name.length).toBeLessThanOrEqual(SWARM_OBJECT_NAME_MAX);
    expect(name).toMatch(SWARM_OBJECT_NAME);
  });

  test.each([
    ["Stack", "key", "0123abcd", /invalid stack name/],
    ["a_b", "key", "0123abcd", /invalid stack name/],
    ["s".repeat(33), "key", "0123abcd", /invalid stack name/],
    ["stack", "-key", "0123abcd", /invalid secret\/config key/],
    ["stack", "a key", "0123abcd", /invalid secret\/config key/],
    ["stack", "key", "0123ABCD", /not 8 lowercase hex digits/],
    ["stack", "key", "0123abc", /not 8 lowercase hex digits/],
  ])("objectName(%j, %j, %j) throws", (stack, key, fp, message) => {
    expect(() => objectName(stack, key, fp)).toThrow(message);
  });
});
