/**
 * No configuration drift: the variables docker-compose.yml and k8s/ set for each service are
 * exactly the ones the code reads (SERVER_ENV_VARS / WORKER_ENV_VARS from src/config.ts) —
 * none the code would ignore, none it reads that a manifest forgets — except for the short,
 * documented allowlists below. The values they set must also pass the services' own config
 * parsing, so a typo in a number or a URL fails here instead of at start-up in a cluster.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServerConfig, parseWorkerConfig, SERVER_ENV_VARS, WORKER_ENV_VARS } from '../../src/config.ts';
import {
  COMPOSE_FILE,
  composeEnvironment,
  containerEnv,
  type Doc,
  interpolate,
  type K8sObject,
  REPO,
  readK8sObjects,
  readYamlDocuments,
} from '../helpers/deploy.ts';

/** Set by a manifest or image although src/config.ts does not read it. */
const SET_BUT_NOT_READ: Record<string, string> = {
  NODE_ENV: 'read by Node.js libraries (express, …), not by our config; the images set it to production',
};

/** Read by the code, deliberately left unset by the manifests (the default applies). */
const READ_BUT_UNSET: Record<'server' | 'worker', Record<string, string>> = {
  server: {
    NOTES_DB: 'SQLite path; every manifest sets DATABASE_URL (PostgreSQL), which takes precedence',
    MCP_AUTH_TOKEN: 'compose and k8s mount the secret as a file: MCP_AUTH_TOKEN_FILE',
    DATABASE_URL: 'compose and k8s mount the secret as a file: DATABASE_URL_FILE',
  },
  worker: {
    MCP_AUTH_TOKEN: 'compose and k8s mount the secret as a file: MCP_AUTH_TOKEN_FILE',
  },
};

const readSecretPlaceholder = (path: string) => `secret-from-${path}`;

const SERVICES = [
  { service: 'server' as const, vars: SERVER_ENV_VARS, compose: 'mcp-server', deployment: 'mcp-server' },
  { service: 'worker' as const, vars: WORKER_ENV_VARS, compose: 'kafka-worker', deployment: 'kafka-worker' },
];

/** Both directions of drift between what a manifest sets and what the code reads. */
function drift(set: Iterable<string>, read: readonly string[], service: 'server' | 'worker') {
  const setNames = new Set(set);
  return {
    setButNotRead: [...setNames].filter((n) => !read.includes(n) && !(n in SET_BUT_NOT_READ)).sort(),
    readButUnset: read.filter((n) => !setNames.has(n) && !(n in READ_BUT_UNSET[service])).sort(),
  };
}

const compose = readYamlDocuments(COMPOSE_FILE)[0] as Doc;
const k8s = readK8sObjects().map((o) => o.object);
const deployment = (name: string) =>
  k8s.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as K8sObject;

describe.each(SERVICES)(
  '$service environment',
  ({ service, vars, compose: composeName, deployment: name }) => {
    // Secret files (*_FILE) exist only in a container: here each reads as a placeholder value.
    const parse = (values: Record<string, string | undefined>) =>
      (service === 'server' ? parseServerConfig : parseWorkerConfig)(values, readSecretPlaceholder);

    it(`docker-compose.yml sets exactly the variables src/config.ts reads for the ${service}`, () => {
      expect(drift(Object.keys(composeEnvironment(compose, composeName)), vars, service)).toEqual({
        setButNotRead: [],
        readButUnset: [],
      });
    });

    it(`k8s/ (Deployment ${name}, its ConfigMap and Secret) sets exactly those variables`, () => {
      expect(drift(containerEnv(deployment(name), k8s).names, vars, service)).toEqual({
        setButNotRead: [],
        readButUnset: [],
      });
    });

    it('the values the manifests set are valid configuration', () => {
      const composeValues = Object.fromEntries(
        Object.entries(composeEnvironment(compose, composeName)).map(([k, v]) => [k, interpolate(v)]),
      );
      expect(() => parse(composeValues)).not.toThrow();
      const k8sValues = containerEnv(deployment(name), k8s).values;
      expect(() => parse(k8sValues)).not.toThrow();
    });

    it('the allowlists only name variables the code really reads', () => {
      for (const n of Object.keys(READ_BUT_UNSET[service])) expect(vars).toContain(n);
      for (const n of Object.keys(SET_BUT_NOT_READ)) {
        expect(SERVER_ENV_VARS).not.toContain(n);
        expect(WORKER_ENV_VARS).not.toContain(n);
      }
    });
  },
);

describe('image environment', () => {
  it.each([
    ['Dockerfile.server', SERVER_ENV_VARS],
    ['Dockerfile.worker', WORKER_ENV_VARS],
  ])('%s sets only variables its service reads (or NODE_ENV)', (file, vars) => {
    const text = readFileSync(resolve(REPO, file), 'utf8').replace(/\\\n/g, ' ');
    const names = [...text.matchAll(/^ENV\s+(.*)$/gm)].flatMap(([, args]) =>
      [...(args ?? '').matchAll(/([A-Z_][A-Z0-9_]*)=/g)].map(([, n]) => n as string),
    );
    expect(names).toContain('NODE_ENV');
    expect(names.filter((n) => !vars.includes(n) && !(n in SET_BUT_NOT_READ))).toEqual([]);
  });
});

describe('the drift check catches real drift (negative controls)', () => {
  it('reports a variable the code does not read and one it reads that is missing', () => {
    const env: Record<string, string> = {
      ...composeEnvironment(compose, 'kafka-worker'),
      KAFKA_TOPICS: 'typo',
    };
    delete env.WORKER_MAX_ATTEMPTS;
    const result = drift(Object.keys(env), WORKER_ENV_VARS, 'worker');
    expect(result.setButNotRead).toContain('KAFKA_TOPICS');
    expect(result.readButUnset).toContain('WORKER_MAX_ATTEMPTS');
  });

  it('reports a server variable set only for the worker', () => {
    const names = new Set(containerEnv(deployment('kafka-worker'), k8s).names);
    names.add('DATABASE_URL');
    expect(drift(names, WORKER_ENV_VARS, 'worker').setButNotRead).toContain('DATABASE_URL');
  });

  it('rejects a value the service would refuse at start-up', () => {
    const values = { ...containerEnv(deployment('kafka-worker'), k8s).values, WORKER_MAX_ATTEMPTS: 'eight' };
    expect(() => parseWorkerConfig(values, readSecretPlaceholder)).toThrow(/WORKER_MAX_ATTEMPTS/);
  });
});
