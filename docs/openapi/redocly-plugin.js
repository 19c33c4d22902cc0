/**
 * Teaches Redocly CLI the shapes of kv's own extensions, so `lint` checks them and `bundle`
 * resolves the `$ref`s inside them as it does everywhere else (it leaves an unknown x- field's
 * refs unresolved, and the response would reach docs/openapi.json broken).
 *
 * - `x-kv-other-methods` on a path item: the methods it serves (`allow`, as the Allow header
 *   sends them) and the 405 answered to any other method (`response`).
 * - `x-kv-unknown-paths` at the top: the 404 answered to any path the document does not list.
 * - `x-kv-greedy` on a path parameter: true when it takes the rest of the path, `/` included.
 * - `x-kv-cors` at the top: with KV_CORS_ORIGINS (`variable`), the answer to a CORS preflight
 *   (`preflight`) and the headers every other answer to an allowed origin carries (`answers`).
 */
export default function kvPlugin() {
  return {
    id: 'kv',
    typeExtension: {
      oas3(types) {
        return {
          ...types,
          KvOtherMethods: {
            properties: { allow: { type: 'string' }, response: 'Response' },
            required: ['allow', 'response'],
          },
          KvUnknownPaths: {
            properties: { description: { type: 'string' }, response: 'Response' },
            required: ['description', 'response'],
          },
          KvCors: {
            properties: { description: { type: 'string' }, variable: { type: 'string' }, preflight: 'Response', answers: 'Response' },
            required: ['description', 'variable', 'preflight', 'answers'],
          },
          Parameter: { ...types.Parameter, properties: { ...types.Parameter.properties, 'x-kv-greedy': { type: 'boolean' } } },
          PathItem: { ...types.PathItem, properties: { ...types.PathItem.properties, 'x-kv-other-methods': 'KvOtherMethods' } },
          Root: {
            ...types.Root,
            properties: { ...types.Root.properties, 'x-kv-unknown-paths': 'KvUnknownPaths', 'x-kv-cors': 'KvCors' },
          },
        };
      },
    },
  };
}
