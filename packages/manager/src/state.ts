// The states of a managed plugin, in one place (style: state is explicit, moved in one spot).
//
//   stopped ──start()──▶ starting ──▶ running ──stop()──▶ stopping ──▶ stopped
//                           │            │  ▲
//                  (fails)  ▼   (exits)  ▼  │ upgrade() done
//                         failed ◀── crashed  upgrading
//                                     │  ▲
//                     backoff elapsed ▼  │ (exits again / start fails)
//                                   starting
//
// `failed` is final until someone calls start() (which forgets the crash history).

/** Where a managed plugin is in its life. */
export type PluginState =
  /** Loaded, no process. */
  | 'stopped'
  /** The process is being started (first start, or a restart after a crash). */
  | 'starting'
  /** Serving calls. */
  | 'running'
  /** The process exited on its own; the supervisor restarts it after a backoff delay. */
  | 'crashed'
  /** Too many crashes within the window, or the first start failed: no more restarts. */
  | 'failed'
  /** A new version is being installed and started; calls still go to the old one. */
  | 'upgrading'
  /** stop() was called: calls in flight finish, then the process is asked to quit. */
  | 'stopping';

export const PLUGIN_STATES: readonly PluginState[] = [
  'stopped',
  'starting',
  'running',
  'crashed',
  'failed',
  'upgrading',
  'stopping',
];
