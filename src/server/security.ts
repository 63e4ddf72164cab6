/**
 * Guards in front of the MCP routes (/mcp, /sse, /message):
 * - Host and Origin validation against DNS rebinding: a request whose Host name is not
 *   allowed, or whose Origin (when a browser sends one) is not allowed, gets 403 before any
 *   MCP processing. By default an Origin is allowed when its host name is an allowed host.
 * - Optional bearer token: without the right `Authorization: Bearer <token>`, 401.
 * Health, readiness and metrics routes are not guarded (probes and scrapers reach them by IP).
 */
import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

export function jsonRpcError(res: Response, status: number, code: number, message: string): void {
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

/** `example.com:8080` → `example.com`; `[::1]:8080` → `[::1]`. */
export function hostNameOf(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

function originHostName(origin: string): string | undefined {
  try {
    const u = new URL(origin);
    return u.hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

export interface HostOriginPolicy {
  allowedHosts: string[];
  allowedOrigins: string[];
}

export function isHostAllowed(policy: HostOriginPolicy, hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  if (policy.allowedHosts.includes('*')) return true;
  return policy.allowedHosts.includes(hostNameOf(hostHeader));
}

export function isOriginAllowed(policy: HostOriginPolicy, origin: string | undefined): boolean {
  if (origin === undefined) return true;
  if (policy.allowedOrigins.length > 0) {
    return policy.allowedOrigins.includes('*') || policy.allowedOrigins.includes(origin);
  }
  const host = originHostName(origin);
  if (host === undefined) return false;
  if (policy.allowedHosts.includes('*')) return true;
  // URL.hostname keeps IPv6 brackets, matching the Host-header form.
  return policy.allowedHosts.includes(host);
}

export function hostOriginGuard(policy: HostOriginPolicy) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!isHostAllowed(policy, req.headers.host)) {
      jsonRpcError(res, 403, -32000, `Forbidden: Host '${req.headers.host ?? ''}' is not allowed`);
      return;
    }
    const origin = req.headers.origin;
    if (!isOriginAllowed(policy, origin)) {
      jsonRpcError(res, 403, -32000, `Forbidden: Origin '${origin}' is not allowed`);
      return;
    }
    next();
  };
}

export function bearerAuth(token: string | undefined) {
  const expected = token ? Buffer.from(token) : undefined;
  return (req: Request, res: Response, next: NextFunction) => {
    if (!expected) {
      next();
      return;
    }
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    const given = match?.[1] ? Buffer.from(match[1].trim()) : undefined;
    if (!given || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="mcp"');
      jsonRpcError(res, 401, -32001, 'Unauthorized: a valid bearer token is required');
      return;
    }
    next();
  };
}
