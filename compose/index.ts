/** The pure compose layer: read a stack's compose file, name its Swarm objects, render what is deployed. */
export * from "./types";
export { COMPOSE_FILES, listStacks, loadStack, parseStack } from "./load";
export { memoryBytes } from "./memory";
export { contentFingerprint, objectName } from "./names";
export { DEFAULT_VERSION, renderStack, RenderNames, RenderOptions, STACK_LABEL } from "./render";
