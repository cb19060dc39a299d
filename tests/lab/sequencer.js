/**
 * Lab test files run in a fixed order (jest's default orders by past duration): the node tests,
 * the service images (host dockerd only), then teardown (which checks lab:down and brings a fresh lab back up).
 */
const Sequencer = require("@jest/test-sequencer").default;

const ORDER = ["lab.lab.test.ts", "images.lab.test.ts", "teardown.lab.test.ts"];
const rank = (p) => {
  const i = ORDER.findIndex((name) => p.endsWith(`/${name}`));
  // Other files run after the listed ones but before teardown, whatever their names.
  return i === -1 ? ORDER.length - 1.5 : i;
};

class LabSequencer extends Sequencer {
  sort(tests) {
    return [...tests].sort((a, b) => rank(a.path) - rank(b.path) || a.path.localeCompare(b.path));
  }
}

module.exports = LabSequencer;
