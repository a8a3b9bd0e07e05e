#include "error.h"

const char *vg_strerror(int err)
{
    switch (err) {
    case 0: return "success";
#define VG_ERR_MSG(name, val, cls, msg) case (val): return msg;
    VG_ERRNO_MAP(VG_ERR_MSG)
#undef VG_ERR_MSG
    default: return "unknown error";
    }
}

const char *vg_err_name(int err)
{
    switch (err) {
    case 0: return "VG_OK";
#define VG_ERR_NAME(name, val, cls, msg) case (val): return "VG_E" #name;
    VG_ERRNO_MAP(VG_ERR_NAME)
#undef VG_ERR_NAME
    default: return "VG_EUNKNOWN";
    }
}

vg_errclass_t vg_err_class(int err)
{
    switch (err) {
    case 0: return VG_CLASS_OK;
#define VG_ERR_CLASS(name, val, cls, msg) case (val): return VG_CLASS_##cls;
    VG_ERRNO_MAP(VG_ERR_CLASS)
#undef VG_ERR_CLASS
    default: return VG_CLASS_FATAL;
    }
}
