package failpoint

// hook, when set, is called at every point the process passes, in every
// build.
var hook func(name string)

// SetHook makes f be called at every point this process passes from now
// on, in a release build too. It is for one process only, set before any
// work starts: the validation kit's crash challenge (engine/validate) sets
// it in a child process of its own, started on a scratch project, to kill
// that process at one point of a commit, which a release build otherwise
// cannot do. Nothing reads it from the environment.
func SetHook(f func(name string)) { hook = f }
