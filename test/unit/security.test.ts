import { describe, expect, it } from 'vitest';
import { hostNameOf, isHostAllowed, isOriginAllowed } from '../../src/server/security.ts';

const local = { allowedHosts: ['localhost', '127.0.0.1', '[::1]'], allowedOrigins: [] };

describe('Host validation', () => {
  it('strips ports, keeps IPv6 brackets, ignores case', () => {
    expect(hostNameOf('LocalHost:8080')).toBe('localhost');
    expect(hostNameOf('[::1]:8080')).toBe('[::1]');
    expect(hostNameOf('127.0.0.1')).toBe('127.0.0.1');
  });

  it('accepts only listed names', () => {
    expect(isHostAllowed(local, 'localhost:3000')).toBe(true);
    expect(isHostAllowed(local, '[::1]:3000')).toBe(true);
    expect(isHostAllowed(local, 'evil.example.com')).toBe(false);
    expect(isHostAllowed(local, 'localhost.evil.example.com')).toBe(false);
    expect(isHostAllowed(local, undefined)).toBe(false);
    expect(isHostAllowed({ allowedHosts: ['*'], allowedOrigins: [] }, 'anything')).toBe(true);
  });
});

describe('Origin validation', () => {
  it('allows no Origin (non-browser clients) and origins on allowed hosts by default', () => {
    expect(isOriginAllowed(local, undefined)).toBe(true);
    expect(isOriginAllowed(local, 'http://localhost:6274')).toBe(true);
    expect(isOriginAllowed(local, 'http://[::1]:6274')).toBe(true);
    expect(isOriginAllowed(local, 'http://evil.example.com')).toBe(false);
    expect(isOriginAllowed(local, 'null')).toBe(false);
  });

  it('uses the explicit list when one is configured', () => {
    const policy = { allowedHosts: ['localhost'], allowedOrigins: ['https://app.example.com'] };
    expect(isOriginAllowed(policy, 'https://app.example.com')).toBe(true);
    expect(isOriginAllowed(policy, 'http://localhost:1234')).toBe(false);
  });
});
