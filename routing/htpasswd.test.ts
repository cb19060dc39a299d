import * as bcrypt from "bcryptjs";
import { htpasswdLine } from "./htpasswd";

test("the line verifies with the password, is the same on every run, and differs between homelabs", () => {
  const line = htpasswdLine("admin", "correct horse", "salt-key-1");
  const [user, hash] = line.trimEnd().split(":");
  expect(user).toBe("admin");
  expect(hash).toMatch(/^\$2a\$10\$/);
  expect(bcrypt.compareSync("correct horse", hash)).toBe(true);
  expect(bcrypt.compareSync("wrong", hash)).toBe(false);
  expect(htpasswdLine("admin", "correct horse", "salt-key-1")).toBe(line);
  expect(htpasswdLine("admin", "correct horse", "salt-key-2")).not.toBe(line);
  expect(line.endsWith("\n")).toBe(true);
});
