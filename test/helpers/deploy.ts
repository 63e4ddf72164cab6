/**
 * Reading and checking the deployment artefacts (docker-compose.yml, k8s/, Dockerfiles)
 * offline, against schemas vendored in test/schemas/vendor/ (scripts/vendor-deploy-schemas.ts).
 *
 * Kubernetes objects are validated strictly: besides the OpenAPI schema of Kubernetes v1.36
 * (types, enums, required fields), a field the schema does not define is an error — as
 * `kubectl apply` (server-side strict field validation) treats it. The vendored validators are
 * Ajv standalone code, which reads exactly the properties its schema declares; so the manifest
 * is handed in behind a Proxy that records which keys each object had read, and any key of an
 * object the schema described (read at least one key of) that was never read is unknown. Maps
 * (labels, ConfigMap data) are enumerated by the validator, which makes all their keys known;
 * free-form objects are never looked into, so nothing inside them is flagged.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv } from 'ajv';
import draft07 from 'ajv/dist/refs/json-schema-draft-07.json' with { type: 'json' };
import { parseAllDocuments } from 'yaml';
import { type ValidateFunction, validators } from '../schemas/vendor/k8s/index.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const COMPOSE_FILE = resolve(REPO, 'docker-compose.yml');
export const K8S_DIR = resolve(REPO, 'k8s');

export type Doc = Record<string, unknown>;

/** Every YAML document of a file (or text), `---`-separated; empty documents dropped. */
export function parseYamlDocuments(text: string, source = 'yaml'): Doc[] {
  return parseAllDocuments(text, { merge: true })
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
      return doc.toJS() as Doc | null;
    })
    .filter((d): d is Doc => d !== null && d !== undefined);
}

export function readYamlDocuments(file: string): Doc[] {
  return parseYamlDocuments(readFileSync(file, 'utf8'), file);
}

// ---------------------------------------------------------------------------------------------
// Compose

const composeSchema = JSON.parse(
  readFileSync(resolve(REPO, 'test/schemas/vendor/compose-spec/compose-spec.schema.json'), 'utf8'),
) as object;

let composeValidator: ReturnType<Ajv['compile']> | undefined;

/** Errors of a compose document against the Compose Specification schema ([] when valid). */
export function validateCompose(doc: unknown): string[] {
  if (!composeValidator) {
    // The schema names its meta-schema by the https URL; Ajv knows draft-07 by the http one.
    const ajv = new Ajv({ allErrors: true, strict: false });
    ajv.addMetaSchema({ ...draft07, $id: 'https://json-schema.org/draft-07/schema' });
    composeValidator = ajv.compile(composeSchema);
  }
  if (composeValidator(doc)) return [];
  return (composeValidator.errors ?? []).map(
    (e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`,
  );
}

/** A compose service by name; a missing one is an error naming it. */
export function composeService(compose: Doc, name: string): Doc {
  const svc = (compose.services as Record<string, Doc>)[name];
  if (!svc) throw new Error(`docker-compose.yml has no service ${name}`);
  return svc;
}

/** The `environment` of a compose service as a map (list form `KEY=value` accepted). */
export function composeEnvironment(compose: Doc, service: string): Record<string, string> {
  const services = compose.services as Record<string, Doc>;
  const env = services[service]?.environment;
  if (env === undefined || env === null) return {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry: string) => {
        const eq = entry.indexOf('=');
        return eq === -1 ? [entry, ''] : [entry.slice(0, eq), entry.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(env as Record<string, unknown>).map(([k, v]) => [k, v === null ? '' : String(v)]),
  );
}

/** Where Compose mounts a service's secrets (non-swarm: a bind mount per secret). */
export const COMPOSE_SECRETS_MOUNT = '/run/secrets';

/** One secret a compose service mounts: its top-level name, host source file and container path. */
export interface ComposeSecretMount {
  name: string;
  /** The host file (the definition's `file:`, interpolated, relative to the compose file). */
  source: string;
  /** The path inside the container. */
  target: string;
}

/**
 * The secrets a compose service mounts (short `- name` or long `{source, target}` syntax),
 * resolved against the top-level `secrets:`. Only `file:` secrets are accepted: the services
 * run read-only, and Compose refuses to copy an `environment:` secret into such a container.
 */
export function composeSecretMounts(
  compose: Doc,
  service: string,
  vars: Record<string, string | undefined> = {},
): ComposeSecretMount[] {
  const definitions = (compose.secrets ?? {}) as Record<string, Doc>;
  const listed = (composeService(compose, service).secrets ?? []) as Array<string | Doc>;
  return listed.map((item) => {
    const name = typeof item === 'string' ? item : String(item.source);
    const target = typeof item === 'string' || item.target === undefined ? name : String(item.target);
    const definition = definitions[name];
    if (!definition) throw new Error(`service ${service} mounts secret ${name}, which is not defined`);
    if (typeof definition.file !== 'string') {
      throw new Error(`secret ${name} is not a file: secret (${JSON.stringify(definition)})`);
    }
    return {
      name,
      source: resolve(dirname(COMPOSE_FILE), interpolate(definition.file, vars)),
      target: target.startsWith('/') ? target : `${COMPOSE_SECRETS_MOUNT}/${target}`,
    };
  });
}

/**
 * Compose variable interpolation as `docker compose` does it: `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `$VAR`, and `$$` for a literal `$`.
 */
export function interpolate(value: string, vars: Record<string, string | undefined> = {}): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, name?: string, op?: string, fallback?: string, bare?: string) => {
      if (match === '$$') return '$';
      const key = (name ?? bare) as string;
      const v = vars[key];
      if (op === ':-') return v === undefined || v === '' ? (fallback ?? '') : v;
      if (op === '-') return v === undefined ? (fallback ?? '') : v;
      return v ?? '';
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

export interface K8sObject extends Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Doc;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export function kindKey(doc: Doc): string {
  return `${String(doc.apiVersion)}/${String(doc.kind)}`;
}

/** Every object in k8s/*.yaml except the kustomization, with the file it came from. */
export function readK8sObjects(dir = K8S_DIR, files?: string[]): Array<{ file: string; object: K8sObject }> {
  const names = files ?? readKustomizationResources(dir);
  return names.flatMap((file) =>
    readYamlDocuments(resolve(dir, file)).map((object) => ({ file, object: object as K8sObject })),
  );
}

export function readKustomizationResources(dir = K8S_DIR): string[] {
  const [kustomization] = readYamlDocuments(resolve(dir, 'kustomization.yaml'));
  return (kustomization?.resources as string[] | undefined) ?? [];
}

interface Touched {
  read: Set<PropertyKey>;
  enumerated: boolean;
}

/** Wraps `value` so every key read and every enumeration is recorded in `log`. */
function track(value: unknown, log: WeakMap<object, Touched>): unknown {
  if (value === null || typeof value !== 'object') return value;
  const target = value as object;
  const entry: Touched = { read: new Set(), enumerated: false };
  log.set(target, entry);
  const children = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(t, key, receiver) {
      entry.read.add(key);
      const v = Reflect.get(t, key, receiver);
      if (v === null || typeof v !== 'object') return v;
      if (!children.has(key)) children.set(key, track(v, log));
      return children.get(key);
    },
    has(t, key) {
      entry.read.add(key);
      return Reflect.has(t, key);
    },
    getOwnPropertyDescriptor(t, key) {
      entry.read.add(key);
      return Reflect.getOwnPropertyDescriptor(t, key);
    },
    ownKeys(t) {
      entry.enumerated = true;
      return Reflect.ownKeys(t);
    },
  });
}

/** Keys the schema never looked at, as JSON pointers, in objects it did describe. */
function unknownFields(value: unknown, log: WeakMap<object, Touched>, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  const touched = log.get(value);
  if (!touched || (!touched.enumerated && touched.read.size === 0)) return [];
  if (Array.isArray(value)) return value.flatMap((item, i) => unknownFields(item, log, `${path}/${i}`));
  const out: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    if (!touched.enumerated && !touched.read.has(key)) out.push(`${path}/${key}`);
    else out.push(...unknownFields(child, log, `${path}/${key}`));
  }
  return out;
}

/**
 * Errors of one Kubernetes object against the vendored schema of its apiVersion/kind, plus
 * unknown fields ([] when valid). An apiVersion/kind without a vendored schema is an error.
 */
export function validateK8sObject(object: unknown): string[] {
  const doc = object as Doc;
  const validate: ValidateFunction | undefined = validators[kindKey(doc)];
  if (!validate) return [`no vendored schema for ${kindKey(doc)} (scripts/vendor-deploy-schemas.ts KINDS)`];
  const copy = structuredClone(doc);
  const log = new WeakMap<object, Touched>();
  const valid = validate(track(copy, log));
  const errors = valid
    ? []
    : (validate.errors ?? []).map(
        (e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`,
      );
  return [...errors, ...unknownFields(copy, log).map((p) => `${p} is not a field of ${kindKey(doc)}`)];
}

export interface ContainerEnv {
  /** Variable names the container gets (env[] and every key of envFrom sources). */
  names: Set<string>;
  /** Literal values where the manifests define them (env value, ConfigMap data, Secret data). */
  values: Record<string, string>;
}

/** The environment a Deployment's container gets, resolving envFrom against the given objects. */
export function containerEnv(
  deployment: K8sObject,
  objects: K8sObject[],
  containerName?: string,
): ContainerEnv {
  const podSpec = (deployment.spec?.template as Doc | undefined)?.spec as Doc | undefined;
  const containers = (podSpec?.containers as Doc[] | undefined) ?? [];
  const container = containerName ? containers.find((c) => c.name === containerName) : containers[0];
  if (!container) throw new Error(`${deployment.metadata.name}: no container ${containerName ?? ''}`);
  const names = new Set<string>();
  const values: Record<string, string> = {};
  const find = (kind: string, name: string) => {
    const hit = objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (!hit)
      throw new Error(`${deployment.metadata.name} refers to ${kind} ${name}, which k8s/ does not define`);
    return hit;
  };
  for (const source of (container.envFrom as Doc[] | undefined) ?? []) {
    const prefix = (source.prefix as string | undefined) ?? '';
    const ref = (source.configMapRef ?? source.secretRef) as { name: string } | undefined;
    if (!ref) continue;
    const obj = find(source.configMapRef ? 'ConfigMap' : 'Secret', ref.name);
    const data = { ...(obj.data ?? {}), ...(obj.stringData ?? {}) };
    for (const [k, v] of Object.entries(data)) {
      names.add(prefix + k);
      values[prefix + k] = String(v);
    }
  }
  for (const e of (container.env as Doc[] | undefined) ?? []) {
    const name = e.name as string;
    names.add(name);
    if (typeof e.value === 'string') values[name] = e.value;
    const from = e.valueFrom as Doc | undefined;
    const ref = (from?.configMapKeyRef ?? from?.secretKeyRef) as { name: string; key: string } | undefined;
    if (ref) {
      const obj = find(from?.configMapKeyRef ? 'ConfigMap' : 'Secret', ref.name);
      const data = { ...(obj.data ?? {}), ...(obj.stringData ?? {}) };
      if (!(ref.key in data))
        throw new Error(`${deployment.metadata.name}: ${ref.name} has no key ${ref.key}`);
      values[name] = String(data[ref.key]);
    }
  }
  return { names, values };
}
