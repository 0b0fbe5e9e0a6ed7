/* version.h - the one place the release number is written (`mailport --version`, `sendmail --version`). */
#ifndef MAILPORT_VERSION_H
#define MAILPORT_VERSION_H

#define MAILPORT_VERSION "0.1.0"

#endif
