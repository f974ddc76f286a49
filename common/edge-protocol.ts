// Headers the API and the edge proxy exchange besides the signed identity (common/identity-signature.ts).

/**
 * Set by the API on a response to an unsafe method that changed nothing (a GraphQL query sent by POST):
 * the edge then keeps the tenant's cached responses instead of invalidating them as after a write.
 * Never passed on to clients.
 */
export const READ_ONLY_RESPONSE_HEADER = 'x-gatehouse-read-only'
