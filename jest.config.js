/** Unit tests: pure renderers, config validation and the resource graph under Pulumi mocks. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>"],
  testMatch: ["**/*.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/out/", "\\.lab\\.test\\.ts$", "\\.e2e\\.test\\.ts$"],
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true }] },
  testTimeout: 60000,
};
