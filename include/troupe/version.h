/*
 * troupe/version.h - version numbers and the export macro.
 */
#ifndef TR_VERSION_H
#define TR_VERSION_H

#define TR_VERSION_MAJOR  0
#define TR_VERSION_MINOR  1
#define TR_VERSION_PATCH  0
#define TR_VERSION_STRING "0.1.0"

/* Symbols of libtroupe are hidden unless marked TR_API. */
#if defined(__GNUC__) || defined(__clang__)
#define TR_API __attribute__((visibility("default")))
#else
#define TR_API
#endif

#endif /* TR_VERSION_H */
