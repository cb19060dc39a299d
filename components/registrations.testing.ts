/**
 * For the mocks tests: every resource registration as the engine would get it, options included.
 * Pulumi's mock monitor hands `newResource` only type, name and inputs; dependencies,
 * deleteBeforeReplace, ignoreChanges, deletedWith, additionalSecretOutputs and aliases are on the
 * request, so the monitor is wrapped to record them.
 */
import * as pulumi from "@pulumi/pulumi";

export interface Registration {
  type: string;
  name: string;
  urn: string;
  /** Inputs with secrets unwrapped (the tests look at what the provider would get). */
  inputs: Record<string, any>;
  dependencies: string[];
  deleteBeforeReplace: boolean;
  ignoreChanges: string[];
  deletedWith: string;
  additionalSecretOutputs: string[];
  aliases: string[];
}

/** Inputs that hold a secret reach the monitor wrapped as {<secret signature>: ..., value}. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const reveal = (v: any): any => (v && typeof v === "object" && SECRET_SIG in v ? v.value : v);

/** Calls `record` with every successful registration from now on. */
export function recordRegistrations(record: (registration: Registration) => void): void {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks");
  const registerResource = MockMonitor.prototype.registerResource;
  MockMonitor.prototype.registerResource = function (req: any, callback: any) {
    return registerResource.call(this, req, (err: any, response: any) => {
      if (!err) {
        const inputs = pulumi.runtime.deserializeProperties(req.getObject());
        record({
          type: req.getType(),
          name: req.getName(),
          urn: response.getUrn(),
          inputs: Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, reveal(v)])),
          dependencies: req.getDependenciesList(),
          deleteBeforeReplace: req.getDeletebeforereplace(),
          ignoreChanges: req.getIgnorechangesList(),
          deletedWith: req.getDeletedwith(),
          additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
          aliases: req.getAliasesList().map((a: any) => JSON.stringify(a.toObject())),
        });
      }
      callback(err, response);
    });
  };
}
