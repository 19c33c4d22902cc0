// The raw-span scanner is shared with the client (kvctl's export and import keep values' exact text).
export { arrayElements, type Element, type Member, topLevelMembers } from '@kv/shared';
