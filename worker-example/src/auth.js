// Access tokens. Admin routes need `Authorization: Bearer <ADMIN_TOKEN>`.
// Usage and read routes also take a customer token:
//   cp1.<base64url(JSON { c: customerId, r?: resourceId, exp: epochSeconds })>.<base64url(HMAC-SHA256)>
// signed with TOKEN_SECRET, which reaches only that customer's pools (and,
// with `r`, only that resource's). Runs in Workers, Node ≥ 20 and browsers (WebCrypto).

const encoder = new TextEncoder();

function base64url(bytes) {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64url(text) {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function hmacKey(secret) {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/** Signs a token for `customerId` (and `resourceId`), valid until `expiresAt` (epoch ms). */
export async function signCustomerToken(secret, { customerId, resourceId, expiresAt }) {
  const claims = { c: customerId, exp: Math.floor(expiresAt / 1000) };
  if (resourceId != null) claims.r = resourceId;
  const body = base64url(encoder.encode(JSON.stringify(claims)));
  const signature = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(`cp1.${body}`));
  return `cp1.${body}.${base64url(new Uint8Array(signature))}`;
}

/** The claims of a valid, unexpired token, or null. */
export async function verifyCustomerToken(secret, token, nowMs) {
  const parts = typeof token === "string" ? token.split(".") : [];
  if (parts.length !== 3 || parts[0] !== "cp1" || !secret) return null;
  try {
    const valid = await crypto.subtle.verify("HMAC", await hmacKey(secret), fromBase64url(parts[2]), encoder.encode(`cp1.${parts[1]}`));
    if (!valid) return null;
    const claims = JSON.parse(new TextDecoder().decode(fromBase64url(parts[1])));
    if (typeof claims.c !== "string" || typeof claims.exp !== "number" || claims.exp * 1000 <= nowMs) return null;
    if (claims.r !== undefined && typeof claims.r !== "string") return null;
    return { customerId: claims.c, resourceId: claims.r ?? null, expiresAt: claims.exp * 1000 };
  } catch {
    return null;
  }
}

/** Constant-time string comparison for the admin token. */
export function sameSecret(a, b) {
  if (typeof a !== "string" || typeof b !== "string" || a.length === 0) return false;
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
