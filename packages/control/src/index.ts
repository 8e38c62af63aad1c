// @plugwire/control: the control plane of a running host — an HTTP/JSON API on a unix socket
// (and optionally 127.0.0.1 with a bearer token), a live event stream, /metrics, a web
// dashboard and the plugins' HTTP routes, on top of a @plugwire/manager PluginManager.

export type { PluginRow } from './api.js';
export { type ControlOptions, controlDefaults } from './config.js';
export { ControlCodes, ControlError } from './errors.js';
export { ROUTES_MOUNT, type RouteRequest, type RouteResponse } from './plugin-routes.js';
export type { LogEntry, StateEntry } from './records.js';
export type { Sample } from './series.js';
export { type ControlServer, serveControl } from './server.js';
