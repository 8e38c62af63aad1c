// HTTP routes a plugin declares in its manifest (szlabs/go-plugin's `http_services`): which
// requests a host's control plane sends to which plugin method. Parsed here, next to the
// manifest, so a wrong route names the file and field; served by @plugwire/control.
import { PlugwireError } from '@plugwire/core';

/** HTTP methods a route may answer. */
export const ROUTE_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
export type RouteMethod = (typeof ROUTE_METHODS)[number];

/** One route of a plugin.json (`routes[i]`). */
export interface Route {
  /** The HTTP method (upper case). */
  method: RouteMethod;
  /** Path under the plugin's prefix, with `:name` parameters: `/api/sample/:id`. */
  path: string;
  /** The plugin method that handles it: `method`, or `interface.method` for a plugin with several interfaces. */
  handler: string;
  /** A free text the handler receives (one handler can serve several routes). */
  label: string | undefined;
  /** The content type of a byte-stream answer. @default 'application/octet-stream' */
  contentType: string | undefined;
}

/** A plugin's routes and the prefix they are served under. */
export interface RouteSet {
  /** `/<plugin name>` unless the manifest's `routePrefix` says otherwise. */
  prefix: string;
  routes: Route[];
}

// A path segment: letters, digits and the URL-safe punctuation, or a `:param`.
const SEGMENT = /^(?:[A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*)$/;

function checkPath(path: unknown, field: string, fail: (f: string, p: string) => never): string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    return fail(field, `must be a path starting with "/" (got ${JSON.stringify(path)})`);
  }
  if (path.length > 1024) fail(field, 'is longer than 1024 characters');
  const segments = path.split('/').slice(1);
  if (path !== '/' && !segments.every((s) => SEGMENT.test(s))) {
    fail(
      field,
      `must be "/"-separated segments of letters, digits, "._~-" or ":param" (got ${JSON.stringify(path)})`,
    );
  }
  return path;
}

/**
 * Reads the manifest's `routes` and `routePrefix`; `fail` throws the manifest's error for a
 * field. Undefined when the plugin declares no routes.
 */
export function parseRoutes(
  raw: Record<string, unknown>,
  name: string,
  interfaces: string[],
  fail: (field: string, problem: string) => never,
): RouteSet | undefined {
  if (raw.routes === undefined) {
    if (raw.routePrefix !== undefined) fail('routePrefix', 'is set but there are no "routes"');
    return undefined;
  }
  if (!Array.isArray(raw.routes)) {
    return fail(
      'routes',
      'must be an array of { "method", "path", "handler", "label" } (e.g. { "method": "GET", "path": "/sample/:id", "handler": "getSample" })',
    );
  }
  if (raw.routes.length > 256) fail('routes', 'may hold at most 256 routes');
  const prefix =
    raw.routePrefix === undefined ? `/${name}` : checkPath(raw.routePrefix, 'routePrefix', fail);
  if (prefix === '/') fail('routePrefix', 'must not be "/" (a plugin cannot take every path)');
  const routes: Route[] = [];
  const seen = new Map<string, number>();
  raw.routes.forEach((r, i) => {
    const at = `routes[${i}]`;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) fail(at, 'must be an object');
    const o = r as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (!['method', 'path', 'handler', 'label', 'contentType'].includes(k)) {
        fail(`${at}.${k}`, 'is not a route field (method, path, handler, label, contentType)');
      }
    }
    const method = typeof o.method === 'string' ? o.method.toUpperCase() : o.method;
    if (!ROUTE_METHODS.includes(method as RouteMethod)) {
      fail(
        `${at}.method`,
        `must be one of ${ROUTE_METHODS.join(', ')} (got ${JSON.stringify(o.method)})`,
      );
    }
    const path = checkPath(o.path, `${at}.path`, fail);
    if (
      typeof o.handler !== 'string' ||
      !/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)?$/.test(o.handler)
    ) {
      fail(
        `${at}.handler`,
        `must be a method name or "interface.method" (got ${JSON.stringify(o.handler)})`,
      );
    }
    const handler = o.handler as string;
    const dot = handler.indexOf('.');
    if (dot > 0 && !interfaces.includes(handler.slice(0, dot))) {
      fail(
        `${at}.handler`,
        `names interface "${handler.slice(0, dot)}", which "plugins" does not list`,
      );
    }
    if (dot < 0 && interfaces.length > 1) {
      fail(
        `${at}.handler`,
        `must name the interface ("iface.${handler}"): the plugin serves several`,
      );
    }
    if (o.label !== undefined && typeof o.label !== 'string')
      fail(`${at}.label`, 'must be a string');
    if (
      o.contentType !== undefined &&
      (typeof o.contentType !== 'string' ||
        !/^[\w.+-]+\/[\w.+-]+(?:\s*;[^\r\n]*)?$/.test(o.contentType))
    ) {
      fail(
        `${at}.contentType`,
        `must be a media type such as "text/csv" (got ${JSON.stringify(o.contentType)})`,
      );
    }
    const key = routeKey(method as RouteMethod, path);
    const before = seen.get(key);
    if (before !== undefined)
      fail(`${at}`, `${method} ${path} is the same route as routes[${before}]`);
    seen.set(key, i);
    routes.push({
      method: method as RouteMethod,
      path,
      handler,
      label: o.label as string | undefined,
      contentType: o.contentType as string | undefined,
    });
  });
  return { prefix, routes };
}

/** Method and path with the parameter names left out: `GET /a/:x` and `GET /a/:y` are one route. */
export function routeKey(method: RouteMethod, path: string): string {
  return `${method} ${path.replace(/:[A-Za-z0-9_]+/g, ':')}`;
}

/** Two plugins claim one route (same method and path after their prefixes). */
export class RouteConflictError extends PlugwireError {
  readonly plugin: string;
  readonly other: string;
  readonly route: string;
  constructor(plugin: string, other: string, route: string) {
    super(
      'PLUGWIRE_ROUTE_CONFLICT',
      `plugin "${plugin}" declares route ${route}, which plugin "${other}" already serves; change one "routePrefix" or path`,
    );
    this.plugin = plugin;
    this.other = other;
    this.route = route;
  }
}

/** The first route of `mine` that one of `others` serves too, as an error naming both plugins. */
export function findRouteConflict(
  plugin: string,
  mine: RouteSet | undefined,
  others: Iterable<{ name: string; routes: RouteSet | undefined }>,
): RouteConflictError | undefined {
  if (!mine) return undefined;
  const taken = new Map<string, string>();
  for (const o of others) {
    if (o.name === plugin || !o.routes) continue;
    for (const r of o.routes.routes)
      taken.set(routeKey(r.method, o.routes.prefix + r.path), o.name);
  }
  for (const r of mine.routes) {
    const other = taken.get(routeKey(r.method, mine.prefix + r.path));
    if (other) return new RouteConflictError(plugin, other, `${r.method} ${mine.prefix}${r.path}`);
  }
  return undefined;
}
