/** Lab end-to-end tests (tests/lab/*.lab.test.ts): real nodes, real SSH; run after lab/host-setup.sh. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/tests/lab"],
  testMatch: ["**/*.lab.test.ts"],
  testPathIgnorePatterns: ["/node_modules/", "/out/"],
  transform: { "^.+\\.ts$": ["ts-jest", { isolatedModules: true }] },
  testSequencer: "<rootDir>/tests/lab/sequencer.js",
  testTimeout: 600000,
  maxWorkers: 1,
};
