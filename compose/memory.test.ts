import { memoryBytes } from "./memory";

const MiB = 1024 ** 2;

describe("memoryBytes parses sizes as Docker does (binary units)", () => {
  test.each([
    ["512M", 512 * MiB],
    ["512m", 512 * MiB],
    ["1g", 1024 * MiB],
    ["1G", 1024 * MiB],
    ["256MiB", 256 * MiB],
    ["256mb", 256 * MiB],
    ["64k", 64 * 1024],
    ["64KB", 64 * 1024],
    ["100b", 100],
    ["100", 100],
    ["1.5g", 1536 * MiB],
    ["0.1k", 102], // go-units truncates the product
    ["0", 0],
  ])("%s is %d bytes", (text, bytes) => {
    expect(memoryBytes(text)).toBe(bytes);
  });

  test("a number is bytes", () => {
    expect(memoryBytes(536870912)).toBe(512 * MiB);
  });

  test.each(["", "M", "512 M", " 512M", "512M ", "-1m", "1.5.2g", "1t", "1x", "1bb", "1ib", "1mbb", "1mi", "0x10", "1e3"])("%j is refused", (text) => {
    expect(() => memoryBytes(text)).toThrow(/is not a size; use a number with a unit b, k, m or g/);
  });

  test.each([-1, 1.5, NaN, Infinity])("the number %d is refused", (n) => {
    expect(() => memoryBytes(n)).toThrow(/is not a whole number of bytes/);
  });
});
