import { Snippet } from "../config/schema";
import { IgnitionConfig, IgnitionUnit, textFile } from "./types";

/**
 * Merges snippets after the base config: files are added, a later snippet's file replacing an earlier
 * one with the same path (config validation already refused paths homelab owns); units with the
 * same name are merged field by field and their drop-ins by name, later snippets winning.
 */
export function applySnippets(base: IgnitionConfig, snippets: readonly Snippet[]): IgnitionConfig {
  const files = [...base.storage.files];
  const units = new Map<string, IgnitionUnit>(base.systemd.units.map((u) => [u.name, { ...u }]));
  for (const snippet of snippets) {
    for (const file of snippet.files) {
      const index = files.findIndex((f) => f.path === file.path);
      const rendered = { ...textFile(file.path, file.contents, file.mode), overwrite: file.overwrite };
      if (index >= 0) files[index] = rendered;
      else files.push(rendered);
    }
    for (const unit of snippet.units) {
      const merged: IgnitionUnit = { ...(units.get(unit.name) ?? { name: unit.name }) };
      if (unit.contents !== undefined) merged.contents = unit.contents;
      if (unit.enabled !== undefined) merged.enabled = unit.enabled;
      if (unit.mask !== undefined) merged.mask = unit.mask;
      if (unit.dropins.length > 0) {
        const dropins = new Map((merged.dropins ?? []).map((d) => [d.name, d]));
        for (const d of unit.dropins) dropins.set(d.name, { name: d.name, contents: d.contents });
        merged.dropins = [...dropins.values()];
      }
      units.set(unit.name, merged);
    }
  }
  return { ...base, storage: { ...base.storage, files }, systemd: { units: [...units.values()] } };
}
