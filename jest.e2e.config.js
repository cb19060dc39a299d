/** End-to-end: the real Pulumi engine against the lab (slow, needs root, dockerd and the toolchain). */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/tests/e2e"],
  testMatch: ["**/*.e2e.test.ts"],
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true }] },
  testTimeout: 15 * 60 * 1000,
  maxWorkers: 1,
};
