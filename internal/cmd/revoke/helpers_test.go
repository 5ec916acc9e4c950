package revoke

import "errors"

func asFlag(err error, target any) bool { return errors.As(err, target) }
